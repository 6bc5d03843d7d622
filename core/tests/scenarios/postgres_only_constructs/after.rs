#[derive(Table)]
#[table(name = "documents")]
#[index(columns(body ops = "jsonb_path_ops"), method = "gin")]
#[index(columns(published_at desc))]
#[index(columns(slug collation = "C"), name = "documents_slug_c_idx")]
pub struct Document {
    #[column(primary_key, identity)]
    pub id: i64,
    #[column(collation = "C")]
    pub slug: String,
    pub body: serde_json::Value,
    pub published_at: Option<DateTime<Utc>>,
}

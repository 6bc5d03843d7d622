#[derive(Table)]
#[table(name = "documents")]
#[primary_key(columns(id, created_at))]
pub struct Document {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub title: String,
}

#[derive(Table)]
#[table(name = "suggestions")]
pub struct Suggestion {
    #[column(primary_key)]
    pub id: Uuid,
    pub document_id: Uuid,
    pub document_created_at: DateTime<Utc>,
}

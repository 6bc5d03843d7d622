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
#[foreign_key(
    columns(document_id, document_created_at),
    references = "documents(id, created_at)",
    on_update = "cascade",
    on_delete = "cascade",
    match_full,
    deferrable,
    initially_deferred
)]
pub struct Suggestion {
    #[column(primary_key)]
    pub id: Uuid,
    pub document_id: Uuid,
    pub document_created_at: DateTime<Utc>,
}

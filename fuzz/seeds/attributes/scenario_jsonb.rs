#[derive(Table)]
#[table(name = "books")]
pub struct Book {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub title: String,
    pub extra: Option<serde_json::Value>,
}

#[derive(Table)]
#[table(name = "events")]
pub struct Event {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    #[column(default = "'{}'::jsonb")]
    pub payload: serde_json::Value,
}

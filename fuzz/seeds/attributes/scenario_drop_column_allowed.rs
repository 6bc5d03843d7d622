#[derive(Table)]
#[table(name = "books", allow_drop(legacy_code))]
pub struct Book {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub title: String,
}

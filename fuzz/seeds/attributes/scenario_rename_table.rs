#[derive(Table)]
#[table(name = "books", renamed_from = "book")]
#[index(columns(title))]
pub struct Book {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub title: String,
}

#[derive(Table)]
#[table(name = "books")]
pub struct Book {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub title: String,
    #[column(default = "0")]
    pub pages: i32,
}

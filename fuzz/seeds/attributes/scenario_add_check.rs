#[derive(Table)]
#[table(name = "books")]
#[check(name = "books_pages_positive", expr = "pages > 0")]
pub struct Book {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub title: String,
    pub pages: i32,
}

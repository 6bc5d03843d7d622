#[derive(Table)]
#[table(name = "books")]
pub struct Book {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub title: String,
    // Existing rows get 0; new rows must say how many pages they have.
    #[column(fill = "0")]
    pub pages: i32,
}

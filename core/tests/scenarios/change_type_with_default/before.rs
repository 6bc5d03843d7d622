#[derive(Table)]
#[table(name = "books")]
pub struct Book {
    #[column(primary_key)]
    pub id: i64,
    #[column(default = "'untitled'")]
    pub title: String,
}

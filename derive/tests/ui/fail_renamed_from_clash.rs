use tablewright_derive::Table;

#[derive(Table)]
pub struct Book {
    #[column(primary_key)]
    pub id: i64,
    #[column(renamed_from = "name")]
    pub title: String,
    #[column(renamed_from = "name")]
    pub subtitle: String,
}

fn main() {}

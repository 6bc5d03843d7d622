use tablewright_derive::Table;

#[derive(Table)]
pub struct Book {
    #[column(primary_key)]
    pub id: i64,
    #[column(primary_key)]
    pub isbn: String,
}

fn main() {}

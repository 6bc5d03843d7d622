use tablewright_derive::Table;

#[derive(Table)]
pub struct Book {
    #[column(primary_key)]
    pub id: i64,
    #[column(unique, unique)]
    pub isbn: String,
}

fn main() {}

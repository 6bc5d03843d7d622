use tablewright_derive::Table;

#[derive(Table)]
pub struct Book {
    #[column(primary_key)]
    pub id: i64,
    pub copies: u32,
}

fn main() {}

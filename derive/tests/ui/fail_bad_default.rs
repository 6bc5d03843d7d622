use tablewright_derive::Table;

#[derive(Table)]
pub struct Book {
    #[column(primary_key)]
    pub id: i64,
    #[column(default = "now(")]
    pub created_at: String,
}

fn main() {}

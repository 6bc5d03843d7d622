use tablewright_derive::{Table, requires_table};

#[derive(Table)]
pub struct Book {
    #[column(primary_key)]
    pub id: i64,
}

#[requires_table(Book, select, upsert)]
fn handler() {}

fn main() {
    handler();
}

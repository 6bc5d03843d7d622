use tablewright_derive::Table;

#[derive(Table)]
pub struct Book {
    #[column(primary_key, nulable)]
    pub id: i64,
}

fn main() {}

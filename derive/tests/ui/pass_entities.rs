use tablewright_core::Table as _;
use tablewright_derive::{Table, requires_table};

#[derive(Table)]
#[table(name = "authors")]
pub struct Author {
    #[column(primary_key, identity)]
    pub id: i64,
    #[column(sql_type = "varchar(320)", unique)]
    pub email: String,
}

#[derive(Table)]
#[table(name = "books")]
#[index(columns(author_id, title))]
#[check(name = "books_pages_positive", expr = "pages > 0")]
pub struct Book {
    #[column(primary_key, default = "gen_random_uuid()", sql_type = "uuid")]
    pub id: String,
    pub title: String,
    #[column(references = "authors.id", on_delete = "cascade")]
    pub author_id: i64,
    pub pages: i32,
    #[column(skip)]
    pub cached: Vec<u32>,
}

#[requires_table(Book, select, insert, role = "writer")]
fn create_book() -> usize {
    42
}

fn main() {
    assert_eq!(Book::model().name, "books");
    assert_eq!(Author::TABLE_NAME, "authors");
    assert_eq!(create_book(), 42);
}

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

/// What the schema language says beyond columns: a composite foreign key, indexes with
/// expressions, predicates, order, a method and INCLUDE, an ALWAYS identity with options,
/// a collation, a quoted type name, and fields that differ only in underscores.
#[derive(Table)]
#[table(name = "reviews")]
#[primary_key(columns(book_id, n))]
#[foreign_key(columns(author_id, email), references = "authors(id, email)", on_update = "cascade", match_full, deferrable, initially_deferred)]
#[index(columns("lower(body)", n desc nulls_last), where = "body IS NOT NULL", include(author_id))]
#[index(columns(data ops = "jsonb_path_ops"), method = "gin")]
pub struct Review {
    pub book_id: i64,
    #[column(identity(always, start = 10, increment = 2, cache = 65536))]
    pub n: i64,
    pub author_id: i64,
    #[column(collation = "C")]
    pub email: String,
    pub body: Option<String>,
    #[column(sql_type = "jsonb")]
    pub data: String,
    #[column(sql_type = "\"ReviewMood\"")]
    pub mood: String,
    pub a_b: i32,
    pub a__b: i32,
}

#[requires_table(Book, select, insert, role = "writer")]
fn create_book() -> usize {
    42
}

fn main() {
    assert_eq!(Book::model().name, "books");
    assert_eq!(Author::TABLE_NAME, "authors");
    assert_eq!(create_book(), 42);
    let review = Review::model();
    assert_eq!(review.foreign_keys["reviews_author_id_email_fkey"].references_columns, ["id", "email"]);
    assert_eq!(review.indexes.len(), 2);
    assert_eq!(review.column("mood").unwrap().sql_type.as_str(), "\"ReviewMood\"");
    assert_ne!(ReviewIden::AB, ReviewIden::AB2);
}

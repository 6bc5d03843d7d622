//! Request handlers. Each declares the tables it touches; `generate` turns that into the
//! grants of its role, and the build fails if an entity it names disappears.

use crate::entities::{Author, AuthorIden, Book, BookIden, Customer, Order, OrderIden, OrderItem};
use tablewright_core::sea_query::{Expr, ExprTrait, PostgresQueryBuilder, Query};
use tablewright_derive::requires_table;

/// Catalogue staff add a book by an existing author.
#[requires_table(Book, insert, role = "catalog_writer")]
#[requires_table(Author, select, role = "catalog_writer")]
pub fn create_book(title: &str, isbn: &str, author_email: &str) -> Vec<String> {
    let author = Query::select()
        .column(AuthorIden::Id)
        .from(AuthorIden::Table)
        .and_where(Expr::col(AuthorIden::Email).eq(author_email))
        .to_string(PostgresQueryBuilder);
    let insert = Query::insert()
        .into_table(BookIden::Table)
        .columns([BookIden::Title, BookIden::Isbn])
        .values_panic([title.into(), isbn.into()])
        .to_string(PostgresQueryBuilder);
    vec![author, insert]
}

/// The storefront lists an author's books.
#[requires_table(Book, select, role = "storefront")]
#[requires_table(Author, select, role = "storefront")]
pub fn books_by_author(author_email: &str) -> String {
    Query::select()
        .columns([
            (BookIden::Table, BookIden::Title),
            (BookIden::Table, BookIden::Isbn),
        ])
        .from(BookIden::Table)
        .inner_join(
            AuthorIden::Table,
            Expr::col((AuthorIden::Table, AuthorIden::Id))
                .equals((BookIden::Table, BookIden::AuthorId)),
        )
        .and_where(Expr::col((AuthorIden::Table, AuthorIden::Email)).eq(author_email))
        .to_string(PostgresQueryBuilder)
}

/// Fulfilment ships an order and records its new status.
#[requires_table(Order, select, update, role = "fulfillment")]
#[requires_table(OrderItem, select, role = "fulfillment")]
#[requires_table(Customer, select, role = "fulfillment")]
pub fn mark_shipped(status: &str) -> String {
    Query::update()
        .table(OrderIden::Table)
        .value(OrderIden::Status, status)
        .and_where(Expr::col(OrderIden::Status).eq("paid"))
        .to_string(PostgresQueryBuilder)
}

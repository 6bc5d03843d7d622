//! One grammar, two readers: the model `#[derive(Table)]` compiled into each entity equals
//! the model the CLI scanner computes from the same file without compiling it.

use bookstore::entities::{Author, Book, BookCover, Customer, Order, OrderItem};
use std::path::Path;
use tablewright_core::Table;
use tablewright_core::schema::grammar::Operation;
use tablewright_core::schema::scan;

fn scanned() -> scan::Scan {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    scan::scan_files(
        &[dir.join("entities.rs"), dir.join("handlers.rs")],
        &tablewright_core::schema::grammar::LexicalChecks,
    )
    .expect("the example scans cleanly")
}

#[test]
fn derive_and_scanner_compute_the_same_model_for_every_entity() {
    let derived = [
        Author::model(),
        Book::model(),
        BookCover::model(),
        Customer::model(),
        Order::model(),
        OrderItem::model(),
    ];
    let scan = scanned();
    assert_eq!(
        scan.desired.schema.tables.len(),
        derived.len(),
        "list every entity of entities.rs here"
    );
    for model in derived {
        let from_cli = scan
            .desired
            .schema
            .tables
            .get(&model.name)
            .unwrap_or_else(|| panic!("scanner missed `{}`", model.name));
        assert_eq!(
            from_cli, &model,
            "derive and scanner disagree on `{}`",
            model.name
        );
    }
}

#[test]
fn table_names_and_identifiers_come_from_the_same_model() {
    assert_eq!(Book::TABLE_NAME, Book::model().name);
    let sql = bookstore::handlers::books_by_author("a@example.com");
    assert!(
        sql.contains("FROM \"books\" INNER JOIN \"authors\""),
        "{sql}"
    );
    assert!(
        sql.contains("\"authors\".\"email\" = 'a@example.com'"),
        "{sql}"
    );
}

#[test]
fn scanner_reads_every_handler_declaration() {
    let scan = scanned();
    let mut seen: Vec<(String, String, Vec<Operation>, Option<String>)> = scan
        .handlers
        .iter()
        .map(|h| {
            (
                h.function.clone(),
                h.entity.clone(),
                h.operations.clone(),
                h.role.clone(),
            )
        })
        .collect();
    seen.sort();
    let role = |r: &str| Some(r.to_owned());
    assert_eq!(
        seen,
        vec![
            (
                "books_by_author".into(),
                "Author".into(),
                vec![Operation::Select],
                role("storefront")
            ),
            (
                "books_by_author".into(),
                "Book".into(),
                vec![Operation::Select],
                role("storefront")
            ),
            (
                "create_book".into(),
                "Author".into(),
                vec![Operation::Select],
                role("catalog_writer")
            ),
            (
                "create_book".into(),
                "Book".into(),
                vec![Operation::Insert],
                role("catalog_writer")
            ),
            (
                "mark_shipped".into(),
                "Customer".into(),
                vec![Operation::Select],
                role("fulfillment")
            ),
            (
                "mark_shipped".into(),
                "Order".into(),
                vec![Operation::Select, Operation::Update],
                role("fulfillment")
            ),
            (
                "mark_shipped".into(),
                "OrderItem".into(),
                vec![Operation::Select],
                role("fulfillment")
            ),
        ]
    );
}

//! The bookstore's tables.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tablewright_derive::Table;
use uuid::Uuid;

/// Someone who writes books.
#[derive(Debug, Clone, Table)]
#[table(name = "authors")]
pub struct Author {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub name: String,
    pub bio: Option<String>,
    #[column(sql_type = "varchar(320)", unique)]
    pub email: String,
    #[column(default = "now()")]
    pub created_at: DateTime<Utc>,
}

/// A title in the catalogue.
#[derive(Debug, Clone, Table)]
#[table(name = "books")]
#[index(columns(author_id, published_at))]
#[check(name = "books_price_non_negative", expr = "price >= 0")]
pub struct Book {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub title: String,
    pub subtitle: Option<String>,
    #[column(sql_type = "varchar(32)", unique)]
    pub isbn: String,
    #[column(references = "authors.id", on_delete = "cascade")]
    pub author_id: Uuid,
    #[column(sql_type = "numeric(10,2)")]
    pub price: Decimal,
    pub page_count: i32,
    pub in_print: bool,
    pub published_at: Option<DateTime<Utc>>,
    #[column(default = "now()")]
    pub created_at: DateTime<Utc>,
}

/// A cover image, one per book.
#[derive(Debug, Clone, Table)]
#[table(name = "book_covers")]
pub struct BookCover {
    #[column(primary_key, references = "books.id", on_delete = "cascade")]
    pub book_id: Uuid,
    pub image: Vec<u8>,
    #[column(sql_type = "varchar(64)")]
    pub content_type: String,
    #[column(default = "now()")]
    pub uploaded_at: DateTime<Utc>,
}

/// Someone who buys books.
#[derive(Debug, Clone, Table)]
#[table(name = "customers")]
pub struct Customer {
    #[column(primary_key, identity)]
    pub id: i64,
    #[column(sql_type = "varchar(320)", unique)]
    pub email: String,
    pub display_name: String,
    #[column(default = "false")]
    pub marketing_opt_in: bool,
    #[column(default = "now()")]
    pub created_at: DateTime<Utc>,
}

/// A purchase.
#[derive(Debug, Clone, Table)]
#[table(name = "orders")]
#[index(columns(customer_id))]
#[index(columns(status, placed_at))]
pub struct Order {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    #[column(references = "customers.id")]
    pub customer_id: i64,
    #[column(sql_type = "varchar(16)", default = "'pending'")]
    pub status: String,
    #[column(sql_type = "numeric(12,2)")]
    pub total: Decimal,
    #[column(default = "'{}'::jsonb")]
    pub metadata: serde_json::Value,
    #[column(default = "now()")]
    pub placed_at: DateTime<Utc>,
}

/// One line of an order: composite key (order, line number).
#[derive(Debug, Clone, Table)]
#[table(name = "order_items")]
#[primary_key(columns(order_id, line))]
#[index(columns(book_id))]
pub struct OrderItem {
    #[column(references = "orders.id", on_delete = "cascade")]
    pub order_id: Uuid,
    pub line: i32,
    #[column(references = "books.id")]
    pub book_id: Uuid,
    pub quantity: i32,
    #[column(sql_type = "numeric(10,2)")]
    pub unit_price: Decimal,
}

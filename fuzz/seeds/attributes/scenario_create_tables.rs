#[derive(Table)]
#[table(name = "authors")]
pub struct Author {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub name: String,
    #[column(sql_type = "varchar(320)", unique)]
    pub email: String,
    #[column(default = "now()")]
    pub created_at: DateTime<Utc>,
}

#[derive(Table)]
#[table(name = "books")]
#[index(columns(author_id, published_at))]
pub struct Book {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub title: String,
    pub subtitle: Option<String>,
    #[column(references = "authors.id", on_delete = "cascade")]
    pub author_id: Uuid,
    #[column(sql_type = "numeric(10,2)")]
    pub price: Decimal,
    pub pages: i32,
    pub copies_sold: i64,
    pub in_print: bool,
    pub cover: Option<Vec<u8>>,
    pub published_at: Option<DateTime<Utc>>,
}

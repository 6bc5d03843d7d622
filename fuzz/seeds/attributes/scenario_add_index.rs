#[derive(Table)]
#[table(name = "books")]
#[index(columns(author_id, published_at))]
#[index(columns(title), unique, name = "books_title_uq")]
pub struct Book {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub title: String,
    pub author_id: Uuid,
    pub published_at: Option<DateTime<Utc>>,
}

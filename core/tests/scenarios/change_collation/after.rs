#[derive(Table)]
#[table(name = "tags")]
pub struct Tag {
    #[column(primary_key)]
    pub id: i64,
    #[column(collation = "C")]
    pub label: String,
}

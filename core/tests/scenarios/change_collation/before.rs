#[derive(Table)]
#[table(name = "tags")]
pub struct Tag {
    #[column(primary_key)]
    pub id: i64,
    pub label: String,
}

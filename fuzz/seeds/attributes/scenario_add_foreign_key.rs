#[derive(Table)]
#[table(name = "authors")]
pub struct Author {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub name: String,
}

#[derive(Table)]
#[table(name = "books")]
pub struct Book {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub title: String,
    #[column(references = "authors.id", on_delete = "set null")]
    pub author_id: Option<Uuid>,
}

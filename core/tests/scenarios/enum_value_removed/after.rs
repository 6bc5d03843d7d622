#[derive(Enum)]
#[enum_type(allow_drop("pending"))]
pub enum Status {
    Published,
    Draft,
    #[value(renamed_from = "archived_old")]
    Archived,
}

#[derive(Table)]
#[table(name = "posts")]
pub struct Post {
    #[column(primary_key)]
    pub id: i64,
    #[column(enum_type = "status", default = "'draft'")]
    pub status: Status,
}

#[derive(Enum)]
pub enum Status {
    Draft,
    Pending,
    Published,
    ArchivedOld,
}

#[derive(Table)]
#[table(name = "posts")]
pub struct Post {
    #[column(primary_key)]
    pub id: i64,
    #[column(enum_type = "status", default = "'draft'")]
    pub status: Status,
    #[column(enum_type = "status")]
    pub previous_status: Option<Status>,
}

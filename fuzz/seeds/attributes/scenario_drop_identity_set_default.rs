#[derive(Table)]
#[table(name = "tickets")]
pub struct Ticket {
    #[column(primary_key, default = "0")]
    pub id: i64,
    pub title: String,
}

#[derive(Table)]
#[table(name = "tickets")]
pub struct Ticket {
    #[column(primary_key, identity(increment = -1))]
    pub id: i64,
    pub title: String,
}

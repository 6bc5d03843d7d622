#[derive(Table)]
#[table(name = "tickets")]
pub struct Ticket {
    #[column(primary_key, identity(always, increment = 2, cache = 65536))]
    pub id: i64,
    pub title: String,
}

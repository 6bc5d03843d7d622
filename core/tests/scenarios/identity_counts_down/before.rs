#[derive(Table)]
#[table(name = "tickets")]
pub struct Ticket {
    #[column(primary_key, identity)]
    pub id: i64,
    pub title: String,
}

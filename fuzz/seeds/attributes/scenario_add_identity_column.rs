#[derive(Table)]
#[table(name = "events")]
pub struct Event {
    #[column(primary_key)]
    pub code: String,
    pub payload: Option<String>,
    #[column(identity)]
    pub seq: i64,
}

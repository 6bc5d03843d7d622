#[derive(Table)]
#[table(name = "orders")]
pub struct Order {
    #[column(primary_key, identity(always))]
    pub id: i64,
    pub total: i64,
}

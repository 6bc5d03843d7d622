#[derive(Table)]
#[table(name = "customers")]
pub struct Customer {
    #[column(primary_key, identity)]
    pub id: i64,
    pub email: String,
}

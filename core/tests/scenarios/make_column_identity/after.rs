#[derive(Table)]
#[table(name = "invoices")]
pub struct Invoice {
    #[column(primary_key, identity)]
    pub number: i64,
    pub customer: String,
}

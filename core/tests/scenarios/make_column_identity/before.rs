#[derive(Table)]
#[table(name = "invoices")]
pub struct Invoice {
    #[column(primary_key)]
    pub number: i64,
    pub customer: String,
}

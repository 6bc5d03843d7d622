#[derive(Table)]
#[table(name = "books")]
pub struct Book {
    #[column(primary_key)]
    pub id: i64,
    #[column(sql_type = "varchar(200)", default = "'untitled'")]
    pub title: String,
}

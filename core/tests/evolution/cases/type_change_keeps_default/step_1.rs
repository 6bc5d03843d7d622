#[derive(Table)]
#[table(name = "t1")]
pub struct T1 {
    #[column(primary_key)]
    pub id: i32,
    #[column(sql_type = "varchar(64)", default = "'d44'")]
    pub c9: Option<String>,
    #[column(default = "7")]
    pub c10: i64,
}

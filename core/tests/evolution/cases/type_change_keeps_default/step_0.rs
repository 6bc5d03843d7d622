// found by the evolution tests (seed 11): after the type change, PostgreSQL kept the
// default as `'d44'::text` where a new table has `'d44'::character varying`

#[derive(Table)]
#[table(name = "t1")]
pub struct T1 {
    #[column(primary_key)]
    pub id: i32,
    #[column(default = "'d44'")]
    pub c9: Option<String>,
    #[column(default = "7")]
    pub c10: i32,
}

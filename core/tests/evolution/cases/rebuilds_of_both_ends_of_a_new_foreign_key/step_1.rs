// found by the evolution tests (seed 7042, DSQL): t1 is rebuilt with its new key to t5
// inline, then t5's rebuild dropped that key and did not add it back

#[derive(Table)]
#[table(name = "t1")]
pub struct T1 {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub c2: NaiveDateTime,
    #[column(sql_type = "varchar(24)")]
    pub c3: Option<String>,
    pub c4: Value,
    #[column(references = "t5.id")]
    pub r7: Option<i64>,
    #[column(fill = "'2026-02-01 00:00:00'")]
    pub c9: NaiveDateTime,
    #[column(references = "t5.id")]
    pub c10: Option<i64>,
}

#[derive(Table)]
#[table(name = "t5")]
pub struct T5 {
    #[column(primary_key)]
    pub id: i64,
    #[column(references = "t1.id")]
    pub r6: Option<Uuid>,
    #[column(sql_type = "varchar(16)", fill = "'d40'")]
    pub c8: String,
    pub c11: Option<String>,
}

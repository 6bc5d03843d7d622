#[derive(Table)]
#[table(name = "books")]
pub struct Book {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub title: String,
    #[column(renamed_from = "subtitle_text")]
    pub subtitle: Option<String>,
    #[column(sql_type = "varchar(32)", unique, renamed_from = "isbn_code")]
    pub isbn: String,
}

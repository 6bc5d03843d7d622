#[derive(Table)]
#[table(name = "users")]
pub struct User {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub email: String,
    pub deleted_at: Option<DateTime<Utc>>,
}

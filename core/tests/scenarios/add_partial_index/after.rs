#[derive(Table)]
#[table(name = "users")]
#[index(columns(email), unique, where = "deleted_at IS NULL", name = "users_live_email_key")]
#[index(columns("lower(email)"))]
pub struct User {
    #[column(primary_key, default = "gen_random_uuid()")]
    pub id: Uuid,
    pub email: String,
    pub deleted_at: Option<DateTime<Utc>>,
}

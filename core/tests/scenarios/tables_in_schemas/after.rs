#[derive(Table)]
#[table(name = "users")]
pub struct User {
    #[column(primary_key)]
    pub id: Uuid,
    pub email: String,
    #[column(references = "auth.members.id")]
    pub primary_member_id: Option<Uuid>,
}

#[derive(Table)]
#[table(name = "members", schema = "auth", renamed_from = "accounts")]
#[index(columns(user_id))]
#[index(columns("lower(provider_key)"), unique, where = "revoked_at IS NULL")]
pub struct Member {
    #[column(primary_key)]
    pub id: Uuid,
    #[column(references = "users.id", on_delete = "cascade")]
    pub user_id: Uuid,
    #[column(unique)]
    pub provider_key: String,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Table)]
#[table(name = "invoices", schema = "billing")]
#[foreign_key(columns(member_id), references = "auth.members(id)")]
pub struct Invoice {
    #[column(primary_key)]
    pub id: i64,
    pub member_id: Uuid,
    #[column(default = "0")]
    pub cents: i64,
}

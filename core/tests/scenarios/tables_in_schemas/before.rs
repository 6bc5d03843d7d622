#[derive(Table)]
#[table(name = "users")]
pub struct User {
    #[column(primary_key)]
    pub id: Uuid,
    pub email: String,
}

#[derive(Table)]
#[table(name = "accounts", schema = "auth")]
#[index(columns(user_id))]
pub struct Account {
    #[column(primary_key)]
    pub id: Uuid,
    #[column(references = "users.id", on_delete = "cascade")]
    pub user_id: Uuid,
    #[column(unique)]
    pub provider_key: String,
}

#[derive(Table)]
#[table(name = "accounts")]
#[index(columns("lower(email)"), unique)]
#[index(columns(handle), where = "deleted_at IS NULL", unique, name = "accounts_live_handle_key")]
#[index(columns(created_at nulls_first), include(handle))]
pub struct Account {
    #[column(primary_key, identity(always, start = 1000, cache = 65536))]
    pub id: i64,
    pub email: String,
    pub handle: String,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Table)]
#[table(name = "sessions")]
#[primary_key(columns(account_id, started_at))]
pub struct Session {
    #[column(references = "accounts.id", on_delete = "cascade")]
    pub account_id: i64,
    pub started_at: DateTime<Utc>,
}

#[derive(Table)]
#[table(name = "session_events")]
#[foreign_key(columns(account_id, session_started_at), references = "sessions(account_id, started_at)", on_delete = "cascade", deferrable)]
pub struct SessionEvent {
    #[column(primary_key, identity(increment = 1, cache = 1))]
    pub id: i64,
    pub account_id: i64,
    pub session_started_at: DateTime<Utc>,
    pub kind: String,
}

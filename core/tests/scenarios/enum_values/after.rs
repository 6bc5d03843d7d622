#[derive(Enum)]
pub enum Mood {
    Happy,
    #[value(name = "so-so")]
    SoSo,
    Sad,
    Elated,
}

#[derive(Enum)]
#[enum_type(name = "plan", schema = "billing")]
pub enum Plan {
    Free,
    Pro,
}

#[derive(Table)]
#[table(name = "people")]
pub struct Person {
    #[column(primary_key)]
    pub id: i64,
    #[column(enum_type = "mood", default = "'happy'")]
    pub mood: Mood,
    #[column(enum_type = "billing.plan")]
    pub plan: Option<Plan>,
}

#[derive(Enum)]
pub enum Mood {
    Happy,
    Sad,
}

#[derive(Table)]
#[table(name = "people")]
pub struct Person {
    #[column(primary_key)]
    pub id: i64,
    #[column(enum_type = "mood", default = "'happy'")]
    pub mood: Mood,
}

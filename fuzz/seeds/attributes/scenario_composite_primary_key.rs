#[derive(Table)]
#[table(name = "order_items")]
#[primary_key(columns(order_id, line))]
pub struct OrderItem {
    pub order_id: Uuid,
    pub line: i32,
    pub quantity: i32,
}

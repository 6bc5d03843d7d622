use tablewright_derive::requires_table;

pub struct NotATable;

#[requires_table(NotATable, select)]
fn handler() {}

fn main() {
    handler();
}

//! Evolution scenarios, applied: for each case and dialect, the setup (`before.rs` from an
//! empty database) and the planned migration run on a new PostgreSQL database (DSQL
//! statements lose only the `ASYNC` PostgreSQL lacks), and introspection equals the
//! `after.rs` schema. `scenarios` checks the same SQL's text without a database.

mod common;
#[path = "common/scenario.rs"]
mod scenario;

use common::{TestDb, apply, assert_database_matches};
use tablewright_core::dialect::Dialect;

async fn apply_case(case: &str) {
    let db = TestDb::create(case).await;
    for dialect in [Dialect::Dsql, Dialect::Postgres] {
        let planned = scenario::plan_case(case, dialect);
        // A refused migration has nothing to apply; its refusal is in the snapshot.
        let Ok(statements) = planned.migration else {
            continue;
        };
        db.reset().await;
        let mut conn = db.connect().await;
        apply(&mut conn, &planned.setup, dialect).await;
        apply(&mut conn, &statements, dialect).await;
        assert_database_matches(
            &mut conn,
            &planned.expected,
            &format!("{case} on {dialect}"),
        )
        .await;
    }
}

macro_rules! applied_tests {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                apply_case(stringify!($case)).await;
            }
        )*
    };
}

scenario::with_cases!(applied_tests);

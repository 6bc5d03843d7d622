//! Migration files as statements: the breakpoint drizzle-kit puts between them, laying
//! statements out as a file, and cutting a file back into statements.

/// The marker drizzle-kit puts between statements; runners split on it.
pub const BREAKPOINT: &str = "--> statement-breakpoint";

/// Lays statements out as a migration file: one statement per chunk, drizzle-kit's
/// breakpoint between chunks, a trailing newline.
pub fn migration_file(statements: &[String]) -> String {
    let mut out = statements.join(&format!("\n{BREAKPOINT}\n"));
    out.push('\n');
    out
}

/// Splits a migration file back into statements (the inverse of [`migration_file`]);
/// empty chunks and chunks holding only comments are dropped.
pub fn split_statements(file: &str) -> Vec<String> {
    file.split(BREAKPOINT)
        .map(str::trim)
        .filter(|chunk| chunk.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--")))
        .map(str::to_owned)
        .collect()
}

//! SHA-256 of migration files over a documented byte form.
//!
//! The hashed bytes are the file's bytes with a leading UTF-8 byte-order mark removed and
//! every CRLF pair replaced by LF. Nothing else is normalised (no trimming, no Unicode
//! normalisation), so any edit a reviewer could see changes the hash, while a checkout
//! with `core.autocrlf=true` on Windows does not. sqlx users met the opposite choice as
//! false "migration was modified" errors.

use sha2::{Digest, Sha256};

/// `bytes` without a leading UTF-8 byte-order mark, which editors on Windows add and every
/// file this tool reads accepts.
pub(crate) fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The normalised byte form described in the module docs.
pub(crate) fn normalized(bytes: &[u8]) -> Vec<u8> {
    let body = without_bom(bytes);
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\r' && body.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

/// Lower-case hex SHA-256 of the normalised bytes.
pub fn migration_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(normalized(bytes)))
}

/// Lower-case hex SHA-256 of raw bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_bom_do_not_change_the_hash() {
        let lf = migration_hash(b"CREATE TABLE a ();\n--> statement-breakpoint\nSELECT 1;\n");
        let crlf = migration_hash(
            b"\xEF\xBB\xBFCREATE TABLE a ();\r\n--> statement-breakpoint\r\nSELECT 1;\r\n",
        );
        assert_eq!(lf, crlf);
    }

    #[test]
    fn visible_edits_change_the_hash() {
        assert_ne!(
            migration_hash(b"SELECT 1;\n"),
            migration_hash(b"SELECT 1; \n")
        );
        assert_ne!(
            migration_hash(b"SELECT 1;\n"),
            migration_hash(b"SELECT 1;\r\r\n")
        );
    }
}

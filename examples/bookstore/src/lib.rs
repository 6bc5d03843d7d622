//! A bookstore: the entities (`entities`) and the request handlers that use them
//! (`handlers`). `tablewright generate` reads both files to write `migrations/` and the
//! permissions file; the derive checks them at compile time.

pub mod entities;
pub mod handlers;

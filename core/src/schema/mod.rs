//! Reading the schema: the attribute grammar, SQL types, the model, the scanner over source
//! files, the desired schema, and comparing two schemas.

pub mod compare;
pub mod desired;
pub mod grammar;
pub mod model;
#[cfg(feature = "compiler")]
pub mod scan;
pub mod types;

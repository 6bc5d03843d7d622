//! Reading the schema: the attribute grammar, SQL types, the model, the scanner over source
//! files, the desired schema, comparing two schemas, and the model written back as structs.

#[cfg(feature = "compiler")]
pub mod codegen;
#[cfg(feature = "compiler")]
pub mod compare;
pub mod desired;
pub mod diagram;
pub mod grammar;
pub mod model;
#[cfg(feature = "compiler")]
pub mod scan;
pub mod sql_text;
pub mod types;
#[cfg(feature = "compiler")]
pub mod validate;

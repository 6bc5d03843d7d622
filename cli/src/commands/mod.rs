//! One module per command, as cargo's `commands/`: its flags (`Args`), its examples for
//! `--help`, its run, and its typed report (text for people, JSON for machines).

pub mod check;
pub mod check_dsql;
pub mod clone;
pub mod diagram;
pub mod drift;
pub mod generate;
pub mod import;
pub mod mark_applied;
pub mod migrate;
pub mod permissions;
pub mod pull;
pub mod push;
pub mod rehash;
pub mod review;
pub mod squash;
pub mod status;
pub mod verify;

/// The JSON and text of a command's outcome: `status` values are snake_case words.
macro_rules! outcomes {
    ($(#[$doc:meta] $variant:ident),+ $(,)?) => {
        /// The command's outcome, the document's `status`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
        pub enum Status {
            $(#[$doc] $variant),+
        }
    };
}
pub(crate) use outcomes;

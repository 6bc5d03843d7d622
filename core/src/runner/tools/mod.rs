//! The use cases beside the engine: [`verify`] (replay into a fresh database), [`drift`]
//! (the live catalog against a replay), [`clone`] (a database's schema and rows into
//! another), [`sample`] rows, [`introspect`]ion (what `pull` and the comparisons read), and
//! [`scratch`] databases on a server or the throwaway one ([`embedded`]).

pub mod clone;
pub(crate) mod drift;
pub(crate) mod embedded;
pub mod introspect;
pub mod sample;
pub mod scratch;
pub(crate) mod verify;

//! What every room of the runner shares: the connection to a target ([`target`], with
//! DSQL's IAM tokens in `dsql`), retries of DSQL's optimistic-concurrency conflicts
//! ([`retry`]), the error ([`error`]) and event ([`event`]) types, and the failpoints the
//! fault tests cut runs at ([`failpoint`]).

#[cfg(feature = "dsql")]
pub(crate) mod dsql;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod failpoint;
pub(crate) mod retry;
pub(crate) mod target;

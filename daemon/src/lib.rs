//! The roster core library: configuration, directory access, resolver,
//! cache, persistent store and authentication decisions. `rosterd` (the
//! socket service) and `rosterctl` are built on it.
pub mod auth;
pub mod backend_error;
pub mod cache;
pub mod census;
pub mod config;
pub mod directory;
pub mod dn;
pub(crate) mod filter;
pub(crate) mod in_turn;
pub mod registry;
pub mod resolver;
pub mod store;
pub mod uri;

/// Time: [`roster_proto::clock`], the one clock module of every roster crate.
pub use roster_proto::clock;

/// A boxed, sendable future: what the object-safe traits return
/// (`resolver::Provider`, `auth::AuthBackend`), and the rare paths a
/// poll hands to a function of its own (the connecting of `Pool::get`).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

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
/// (`resolver::Provider`, `auth::AuthBackend`), and [`boxed_apart`].
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The future `make` returns, made and boxed in a function that is never
/// inlined: for the rare paths of hot polls (connecting, following
/// referrals, an admin request beside the lookups). A future made in a
/// poll, even as `Box::pin`'s argument, takes its size in that poll's
/// stack frame at every poll, and every call below the poll runs that
/// much deeper; here only `make`'s captures are in the caller's frame.
#[inline(never)]
pub fn boxed_apart<'a, F, T>(make: impl FnOnce() -> F) -> BoxFuture<'a, T>
where
    F: std::future::Future<Output = T> + Send + 'a,
{
    Box::pin(make())
}

//! libnss_roster.so.2: NSS passwd/group/initgroups hooks backed by rosterd.
//!
//! With `passwd: files roster` and `group: files roster` (and optionally
//! `netgroup: files roster`) in
//! `/etc/nsswitch.conf`, glibc loads this library into every process that
//! looks up a name. A warm lookup is answered from rosterd's memory cache
//! (`/run/roster/nss.mc`, a read-only shared mapping: hash, probe, copy, no
//! system call; see [`roster_proto::memcache`]). Anything else asks
//! rosterd over its lookup socket (`/run/roster/nss.sock`): one request and
//! one reply within a total time bound: no threads, no runtime, no
//! panic unwinding into C. The connection is kept for the process's next
//! lookup ([`kept`]), used only by the process that made it (never by a
//! forked child, nor after its effective IDs changed) and never waited
//! for by a second thread.
//!
//! After one call timed out against a hung daemon, the process answers
//! UNAVAIL at once for a few seconds ([`backoff`]) instead of waiting on
//! every lookup again.
//!
//! Statuses: NOTFOUND when the daemon says there is no such object, or its
//! memory cache's live "no such entry" record does (or the name/ID is one
//! the module never serves: ignored names, IDs below `min_id`); UNAVAIL
//! when the daemon cannot be reached or fails, so the next source keeps
//! working; TRYAGAIN with `ERANGE` when glibc's buffer is too
//! small (glibc retries with a larger one).
//!
//! Modules: [`config`] (`nss.conf` and its cache), [`lookup`] (the testable
//! core talking to the daemon), [`kept`] (the connection kept between
//! lookups), [`pack`] (filling C buffers), [`initgroups`],
//! [`enumerate`], [`netgroup`] (the netgroup map's hooks), [`hooks`]
//! (the other exported `_nss_roster_*` functions), and [`unserved`] (the
//! functions of the maps roster does not serve, answering UNAVAIL).

pub mod answer;
pub mod backoff;
pub mod config;
pub mod enumerate;
pub mod hooks;
pub mod initgroups;
pub mod kept;
pub mod lookup;
pub mod netgroup;
pub mod pack;
pub mod retry;
pub mod unserved;

pub use answer::Answer;
pub use backoff::Backoff;
pub use config::{ConfigCache, NssConfig};
pub use lookup::{Lookup, Page};

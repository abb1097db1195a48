//! One search on a lent connection: paged (RFC 2696), each reply bounded by
//! the operation timeout, result codes classified, each entry read as the
//! caller's [`Entry`] (a whole [`SearchEntry`], or [`EntryOctets`]);
//! referrals and search continuation references are handed back (followed
//! by [`super::referral`]).

use super::conn::is_connection_error;
use super::records::DirectoryError;
use crate::dn;
use ldap3::controls::{Control, ControlType, PagedResults};
use ldap3::{EntryOctets, Ldap, LdapError, LdapResult, ResultEntry, Scope, SearchEntry};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// A paged search is stopped, as failed, once its server has sent this
/// many pages in a row without an entry or a reference, each with a
/// cookie for more: it makes no progress, and would otherwise go on for
/// as long as the server does (a listing has no bound of its own but each
/// page's reply timeout). A server may send some empty pages (Active
/// Directory, when a page's time runs out before a match), not a
/// thousand in a row.
pub(crate) const MAX_EMPTY_PAGES: u32 = 1000;

/// How a search failed.
#[derive(Debug)]
pub(crate) enum SearchFail {
    /// The connection broke (closed, I/O, TLS): another connection may work.
    Connection(String),
    /// No answer in time: the server is hung.
    Timeout,
    /// The server answered with an error.
    Server(DirectoryError),
    /// An unpaged search hit the server's size limit: ask again paged.
    SizeLimit,
    /// The server dropped a paged search's state ("paged results cookie
    /// is invalid"): another paged search began on the same connection.
    PagedCookie(String),
}

/// What to search.
#[derive(Clone, Debug)]
pub(crate) struct Query {
    /// Search base.
    pub base: String,
    /// Scope.
    pub scope: Scope,
    /// Filter (values already escaped).
    pub filter: String,
    /// Attributes wanted (shared: a domain's lists are built once, not
    /// copied for each search).
    pub attrs: Arc<[String]>,
}

/// An entry as a search hands it back, read from the octets the
/// connection read: a whole [`SearchEntry`], or the [`EntryOctets`] a
/// reader of a few attributes' first values takes (a user's groups).
pub(crate) trait Entry: Send + Sized + 'static {
    /// The entry `re`; what is wrong with it when it cannot be read.
    fn read(re: ResultEntry) -> Result<Self, String>;
    /// Its DN.
    fn dn(&self) -> &str;
}

impl Entry for SearchEntry {
    fn read(re: ResultEntry) -> Result<Self, String> {
        SearchEntry::read(re)
    }
    fn dn(&self) -> &str {
        &self.dn
    }
}

impl Entry for EntryOctets {
    fn read(re: ResultEntry) -> Result<Self, String> {
        EntryOctets::read(re)
    }
    fn dn(&self) -> &str {
        EntryOctets::dn(self)
    }
}

/// Where `Directory::search_into` puts a query's entries as they arrive:
/// a reader that takes what it needs from each entry at once, while the
/// next are still on their way, and keeps only that; or [`KeptEntries`],
/// the entries themselves.
pub(crate) trait EntrySink<E>: Send {
    /// A query begins: what [`EntrySink::restart`] takes back is what is
    /// put from here on.
    fn begin(&mut self);
    /// One entry of the query's answer.
    fn put(&mut self, e: E);
    /// The query is asked again from its start (its reused connection
    /// broke, or the server's size limit or paging cookie said so): what
    /// was put since [`EntrySink::begin`] is taken back (the new answer
    /// may differ, or come from another server).
    fn restart(&mut self);
    /// The entries found by following the query's referrals, after its
    /// answer (some may be entries already put: a DN the referred server
    /// holds too).
    fn referred(&mut self, more: Vec<E>);
}

/// The entries of a query kept as they come (a referred entry whose DN
/// they hold left out).
pub(crate) struct KeptEntries<E> {
    /// The entries, in the order they came.
    pub entries: Vec<E>,
    /// Where the current query's entries begin.
    from: usize,
}

impl<E> KeptEntries<E> {
    /// None yet.
    pub fn new() -> Self {
        KeptEntries {
            entries: Vec::new(),
            from: 0,
        }
    }
}

impl<E: Entry> EntrySink<E> for KeptEntries<E> {
    fn begin(&mut self) {
        self.from = self.entries.len();
    }
    fn put(&mut self, e: E) {
        self.entries.push(e);
    }
    fn restart(&mut self) {
        self.entries.truncate(self.from);
    }
    fn referred(&mut self, more: Vec<E>) {
        let unread = unread(self.entries.iter().map(|e| e.dn()), more);
        self.entries.extend(unread);
    }
}

/// Of `more`, the entries a query's referrals led to, those to read: an
/// entry whose DN, normalized (another server may spell it otherwise),
/// is one of `read` or of an entry before it in `more` is left out.
pub(crate) fn unread<'a, E: Entry>(read: impl Iterator<Item = &'a str>, more: Vec<E>) -> Vec<E> {
    if more.is_empty() {
        return more;
    }
    let mut seen: HashSet<String> = read.map(dn::normalize).collect();
    more.into_iter()
        .filter(|e| seen.insert(dn::normalize(e.dn())))
        .collect()
}

/// What one server answered: its entries and the referral URLs it gave
/// (continuation references and a referral result).
#[derive(Debug)]
pub(crate) struct Found<E = SearchEntry> {
    /// The entries.
    pub entries: Vec<E>,
    /// Referral URLs, not followed yet.
    pub refs: Vec<String>,
}

/// Runs `q` on `ldap`, with paged results of `page_size` when given (a
/// lookup of one name or ID asks without the paging control: one request,
/// less work for the server); `reply_timeout` bounds the wait for each
/// reply. `None` when the caller bounds the whole search with a timer of
/// its own: ldap3 would set two more per search, and each new timer
/// earlier than the runtime's next one wakes its driver once more.
pub(crate) async fn run<E: Entry>(
    ldap: Ldap,
    q: &Query,
    page_size: Option<u32>,
    reply_timeout: Option<Duration>,
) -> Result<Found<E>, SearchFail> {
    let mut entries = Vec::new();
    let refs = run_each(ldap, q, page_size, reply_timeout, &mut |e| entries.push(e)).await?;
    Ok(Found { entries, refs })
}

/// [`run`] handing each entry to `each` as it arrives instead of keeping
/// them (a listing too large to hold at once); the referral URLs found.
///
/// Paging (RFC 2696) is done here, a page a search request, each with the
/// cookie the server gave at the end of the page before, until it gives
/// an empty one or none; a page that ends in an error ends the search
/// with that error. A cookie handed back as it was sent is no error:
/// Samba and 389-ds give one cookie for every page of a search. (ldap3's
/// `PagedResults` adapter did the same behind a lock and a boxed future
/// for every entry of every page.)
pub(crate) async fn run_each<E: Entry>(
    mut ldap: Ldap,
    q: &Query,
    page_size: Option<u32>,
    reply_timeout: Option<Duration>,
    each: &mut (dyn FnMut(E) + Send),
) -> Result<Vec<String>, SearchFail> {
    // An entry that cannot be read (a DN that is not UTF-8, a part
    // missing) fails the search once it has ended: it could hold the
    // name or ID asked for, so answering from the other entries could
    // give one name two accounts.
    let mut unreadable: Option<String> = None;
    let mut references = Vec::new();
    // The cookie the next page is asked with (empty for the first).
    let mut cookie = Vec::new();
    // Pages in a row with nothing in them (`MAX_EMPTY_PAGES`).
    let mut empty_pages = 0;
    // The entries received, over all pages (`busy_poll`).
    let mut received = 0;
    let mut res = loop {
        if let Some(t) = reply_timeout {
            ldap.with_timeout(t);
        }
        if let Some(size) = page_size {
            ldap.with_controls(PagedResults {
                size: size.min(i32::MAX as u32) as i32,
                cookie: std::mem::take(&mut cookie),
            });
        }
        let mut stream = ldap
            .streaming_search(&q.base, q.scope, &q.filter, &q.attrs[..])
            .await
            .map_err(classify)?;
        let mut page_held = false;
        loop {
            let item = stream.next().await;
            page_held |= matches!(&item, Ok(Some(re)) if !re.is_intermediate());
            match item {
                Ok(Some(re)) if re.is_intermediate() => {}
                Ok(Some(re)) if re.is_ref() => references.extend(ldap3::parse_refs(re.0)),
                Ok(Some(re)) => {
                    received += 1;
                    super::busy_poll::note_entry(received);
                    match E::read(re) {
                        Ok(e) if unreadable.is_none() => each(e),
                        Ok(_) => {}
                        Err(wrong) => {
                            unreadable.get_or_insert(wrong);
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(classify(e)),
            }
        }
        let res = stream.finish().await;
        match next_page(page_size, &res) {
            Some(next) => {
                empty_pages = if page_held || !res.refs.is_empty() {
                    0
                } else {
                    empty_pages + 1
                };
                if empty_pages >= MAX_EMPTY_PAGES {
                    // (An entry read before that could not be read is
                    // the first thing wrong: said instead.)
                    if let Some(wrong) = unreadable {
                        return Err(unreadable_entry(q, &wrong));
                    }
                    return Err(SearchFail::Server(DirectoryError::Refused {
                        rc: None,
                        reason: format!(
                            "search under {} with {}: the server sent {MAX_EMPTY_PAGES} pages in a row without an entry, each with a cookie for more: stopped (a paged search that makes no progress)",
                            q.base, q.filter
                        ),
                        source: None,
                    }));
                }
                references.extend(res.refs);
                cookie = next;
            }
            None => break res,
        }
    };
    res.refs.extend(references);
    if let Some(wrong) = unreadable {
        return Err(unreadable_entry(q, &wrong));
    }
    match res.rc {
        // 10: a referral result (RFC 4511 §4.1.10), its URLs in `refs`.
        0 | 10 => Ok(res.refs),
        // No such object: the base does not exist.
        32 => Err(SearchFail::Server(DirectoryError::NotFound {
            what: format!("search base {} does not exist (rc=32 {})", q.base, res.text),
        })),
        3 => Err(SearchFail::Timeout),
        // OpenLDAP keeps one paged search per connection; the text is
        // the only sign (rc 2 or 53).
        2 | 53 if page_size.is_some() && res.text.to_ascii_lowercase().contains("cookie") => Err(
            SearchFail::PagedCookie(format!("rc={} {}", res.rc, res.text)),
        ),
        4 if page_size.is_none() => Err(SearchFail::SizeLimit),
        51 | 52 => Err(SearchFail::Connection(format!(
            "server busy or unavailable (rc={} {})",
            res.rc, res.text
        ))),
        rc => Err(SearchFail::Server(DirectoryError::refused(
            rc,
            format!(
                "search under {} with {} failed: rc={rc} {}",
                q.base, q.filter, res.text
            ),
        ))),
    }
}

/// The failure of search `q` that met an entry it cannot read (`wrong`
/// says why): it could hold the name or ID asked for.
fn unreadable_entry(q: &Query, wrong: &str) -> SearchFail {
    SearchFail::Server(DirectoryError::Refused {
        rc: None,
        reason: format!(
            "search under {} with {}: an entry cannot be read: {wrong}",
            q.base, q.filter
        ),
        source: None,
    })
}

/// The cookie to ask the next page with, when `res` ends a page of a
/// paged search (`page_size`) that has more: a success carrying the
/// paged results control with a cookie that is not empty.
fn next_page(page_size: Option<u32>, res: &LdapResult) -> Option<Vec<u8>> {
    if page_size.is_none() || res.rc != 0 {
        return None;
    }
    res.ctrls.iter().find_map(|c| match c {
        Control(Some(ControlType::PagedResults), raw) => {
            let pr: PagedResults = raw.parse();
            (!pr.cookie.is_empty()).then_some(pr.cookie)
        }
        _ => None,
    })
}

fn classify(e: LdapError) -> SearchFail {
    match e {
        LdapError::Timeout { .. } => SearchFail::Timeout,
        e if is_connection_error(&e) => SearchFail::Connection(e.to_string()),
        LdapError::LdapResult { result } if matches!(result.rc, 51 | 52 | 80) => {
            SearchFail::Connection(format!("rc={} {}", result.rc, result.text))
        }
        e => SearchFail::Server(DirectoryError::refused_from("search", e)),
    }
}

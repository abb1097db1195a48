//! The admin `lookup` of kind `sid`: asks each AD domain whose SID the
//! object's SID extends (a search by binary objectSid), uncached.

use super::Context;
use roster_daemon::directory::ad::SidObject;
use roster_daemon::resolver::DomainError;
use roster_idmap::Sid;
use roster_proto::admin::{Entry, GroupInfo, LookupFound, Source, UserInfo};
use roster_proto::Failure;

/// Looks up the object whose SID is `key` in the AD domains: found, not
/// found, an invalid SID, or a domain that could not be asked.
pub(super) async fn lookup(ctx: &Context, key: &str) -> Result<LookupFound, Failure> {
    let sid: Sid = key
        .trim()
        .parse()
        .map_err(|e| Failure::invalid(format!("{key:?} is not a SID: {e}")))?;
    for p in ctx.resolver.domains().iter() {
        let Some(dir) = p.directory() else {
            continue;
        };
        match dir.ad_lookup_sid(&sid).await {
            Ok(Some(SidObject::User(u))) => {
                return Ok(LookupFound {
                    source: Source::Directory,
                    domain: u.domain,
                    dn: u.dn,
                    entry: Entry::User(UserInfo {
                        name: u.user.name,
                        uid: u.user.uid,
                        gid: u.user.gid,
                        gecos: u.user.gecos,
                        home: u.user.home,
                        shell: u.user.shell,
                        unique_id: u.unique_id,
                    }),
                });
            }
            Ok(Some(SidObject::Group(g))) => {
                return Ok(LookupFound {
                    source: Source::Directory,
                    domain: g.domain,
                    dn: g.dn,
                    entry: Entry::Group(GroupInfo {
                        name: g.group.name,
                        gid: g.group.gid,
                        members: g.group.members,
                    }),
                });
            }
            Ok(None) => {}
            Err(e) => return Err(DomainError::new(p.name(), e.into()).into()),
        }
    }
    Err(Failure::not_found(format!("SID {sid}")))
}

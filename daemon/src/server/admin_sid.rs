//! The admin `lookup` of kind `sid`: asks each AD domain whose SID the
//! object's SID extends (a search by binary objectSid), uncached.

use super::Context;
use crate::directory::ad::SidObject;
use crate::resolver::Source;
use roster_idmap::Sid;
use serde_json::{json, Value};

/// What the `lookup` command reports: (source, domain, DN, entry), or
/// `Err(None)` for "not found", `Err(Some(reason))` when a domain failed.
pub(super) type Found = Result<(Source, String, String, Value), Option<String>>;

/// Looks up the object whose SID is `key` in the AD domains.
pub(super) async fn lookup(ctx: &Context, key: &str) -> Found {
    let sid: Sid = key
        .trim()
        .parse()
        .map_err(|e| Some(format!("{key:?} is not a SID: {e}")))?;
    for p in ctx.resolver.domains().iter() {
        let Some(dir) = p.directory() else {
            continue;
        };
        match dir.ad_lookup_sid(&sid).await {
            Ok(Some(SidObject::User(u))) => {
                let entry = json!({
                    "type": "user", "name": u.user.name, "uid": u.user.uid,
                    "gid": u.user.gid, "gecos": u.user.gecos, "home": u.user.home,
                    "shell": u.user.shell, "unique_id": u.unique_id,
                });
                return Ok((Source::Directory, u.domain, u.dn, entry));
            }
            Ok(Some(SidObject::Group(g))) => {
                let entry = json!({
                    "type": "group", "name": g.group.name, "gid": g.group.gid,
                    "members": g.group.members,
                });
                return Ok((Source::Directory, g.domain, g.dn, entry));
            }
            Ok(None) => {}
            Err(e) => return Err(Some(e.to_string())),
        }
    }
    Err(None)
}

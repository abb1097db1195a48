//! `rosterctl nsswitch enable|disable`: put `roster` right after `files`
//! (or `compat`) on the `passwd:` and `group:` lines (and `netgroup:` with
//! `--netgroup`; `netgroup: files roster` is added when there is no such
//! line), or take it out of all three. Other lines are never touched; a backup `FILE.roster-backup` is written before
//! the file changes; running it twice changes nothing the second time.

use super::atomic;
use super::cli::NsswitchArgs;
use super::context::Ctx;
use super::output::print_json;
use anyhow::Context as _;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// The databases `enable` edits by default.
const DATABASES: [&str; 2] = ["passwd", "group"];
/// The netgroup database (`enable --netgroup`; `disable` always).
const NETGROUP: &str = "netgroup";
/// The source name of the NSS module.
const SOURCE: &str = "roster";

/// Runs `rosterctl nsswitch enable` (`enable = true`) or `disable`.
pub fn run(ctx: &Ctx, args: &NsswitchArgs, enable: bool) -> anyhow::Result<ExitCode> {
    let path = &args.file;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (new_text, changed) = edit(&text, enable, args.netgroup || !enable);
    let mut backup: Option<PathBuf> = None;
    if !changed.is_empty() {
        let b = PathBuf::from(format!("{}.roster-backup", path.display()));
        std::fs::copy(path, &b)
            .with_context(|| format!("cannot write the backup {}", b.display()))?;
        atomic::replace(path, new_text.as_bytes())?;
        backup = Some(b);
    }
    let verb = if enable { "enabled" } else { "disabled" };
    if ctx.json {
        print_json(&json!({
            "file": path,
            "action": if enable { "enable" } else { "disable" },
            "changed": changed,
            "backup": backup,
        }));
    } else if changed.is_empty() {
        println!(
            "{}: roster already {verb} for {}; nothing changed",
            path.display(),
            if args.netgroup {
                "passwd, group and netgroup"
            } else {
                "passwd and group"
            }
        );
    } else {
        println!(
            "{}: roster {verb} on: {}",
            path.display(),
            changed.join(", ")
        );
        if let Some(b) = backup {
            println!("backup of the previous file: {}", b.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Edits the text; returns the new text and the databases whose line
/// changed. `netgroup`: the netgroup line too (added by `enable` when
/// missing).
pub fn edit(text: &str, enable: bool, netgroup: bool) -> (String, Vec<String>) {
    let mut changed = Vec::new();
    let mut out = String::with_capacity(text.len() + 32);
    let mut saw_netgroup = false;
    for line in text.split_inclusive('\n') {
        let (body, eol) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if netgroup && database_of(body) == Some(NETGROUP) {
            saw_netgroup = true;
        }
        match edit_line(body, enable, netgroup) {
            Some((db, new)) => {
                changed.push(db);
                out.push_str(&new);
            }
            None => out.push_str(body),
        }
        out.push_str(eol);
    }
    if enable && netgroup && !saw_netgroup {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("netgroup:       files roster\n");
        changed.push(NETGROUP.to_string());
    }
    (out, changed)
}

/// The database a line configures (not for comments).
fn database_of(line: &str) -> Option<&str> {
    let content = line.split('#').next().unwrap_or("");
    content.split_once(':').map(|(db, _)| db.trim())
}

/// The new text of one line when it is a passwd/group line that needs the
/// change, with the database name.
fn edit_line(line: &str, enable: bool, netgroup: bool) -> Option<(String, String)> {
    let (content, comment) = match line.find('#') {
        Some(i) => (&line[..i], &line[i..]),
        None => (line, ""),
    };
    let (db, rest) = content.split_once(':')?;
    let db_name = db.trim();
    let wanted = DATABASES.contains(&db_name) || (netgroup && db_name == NETGROUP);
    if !wanted {
        return None;
    }
    let lead = rest.len() - rest.trim_start().len();
    let tokens: Vec<&str> = rest.split_whitespace().collect();
    let has = tokens.contains(&SOURCE);
    let new_tokens = match (enable, has) {
        (true, false) => with_source(&tokens),
        (false, true) => without_source(&tokens),
        _ => return None,
    };
    let spacing = if lead == 0 { " " } else { &rest[..lead] };
    let mut new = format!("{db}:{spacing}{}", new_tokens.join(" "));
    if !comment.is_empty() {
        new.push(' ');
        new.push_str(comment);
    }
    Some((db_name.to_string(), new))
}

/// Inserts `roster` after `files`/`compat` and their `[...]` actions, or at
/// the end when neither is there.
fn with_source<'a>(tokens: &[&'a str]) -> Vec<&'a str> {
    let mut v = tokens.to_vec();
    let at = match tokens.iter().position(|t| *t == "files" || *t == "compat") {
        Some(i) => {
            let mut j = i + 1;
            while j < tokens.len() && tokens[j].starts_with('[') {
                j += 1;
            }
            j
        }
        None => tokens.len(),
    };
    v.insert(at, SOURCE);
    v
}

/// Removes `roster` and the `[...]` actions that belong to it.
fn without_source<'a>(tokens: &[&'a str]) -> Vec<&'a str> {
    let mut v = Vec::with_capacity(tokens.len());
    let mut skipping = false;
    for t in tokens {
        if *t == SOURCE {
            skipping = true;
            continue;
        }
        if skipping && t.starts_with('[') {
            continue;
        }
        skipping = false;
        v.push(*t);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "# /etc/nsswitch.conf\n\npasswd:         files systemd\ngroup:          files systemd\nshadow:         files\ngshadow:        files\n\nhosts:          files dns\nnetgroup:       nis\n";

    #[test]
    fn enable_then_disable_round_trips() {
        let (on, changed) = edit(DEBIAN, true, false);
        assert_eq!(changed, vec!["passwd", "group"]);
        assert!(
            on.contains("passwd:         files roster systemd\n"),
            "{on}"
        );
        assert!(
            on.contains("group:          files roster systemd\n"),
            "{on}"
        );
        assert!(
            on.contains("shadow:         files\n") && on.contains("hosts:          files dns\n")
        );
        let (again, changed) = edit(&on, true, false);
        assert!(changed.is_empty());
        assert_eq!(again, on);
        let (off, changed) = edit(&on, false, true);
        assert_eq!(changed, vec!["passwd", "group"]);
        assert_eq!(off, DEBIAN);
        assert!(edit(&off, false, true).1.is_empty());
    }

    #[test]
    fn actions_and_comments_stay_with_their_source() {
        let t = "passwd: files [SUCCESS=merge] sss # local first\ngroup:compat\n#passwd: files\n";
        let (on, _) = edit(t, true, false);
        assert_eq!(
            on,
            "passwd: files [SUCCESS=merge] roster sss # local first\ngroup: compat roster\n#passwd: files\n"
        );
        let (off, _) = edit("passwd: files roster [NOTFOUND=return] ldap\n", false, true);
        assert_eq!(off, "passwd: files ldap\n");
        let (no_files, _) = edit("group: ldap", true, false);
        assert_eq!(no_files, "group: ldap roster");
    }

    #[test]
    fn netgroup_is_added_on_request_and_removed_always() {
        let (on, changed) = edit(DEBIAN, true, true);
        assert_eq!(changed, vec!["passwd", "group", "netgroup"]);
        assert!(on.contains("netgroup:       nis roster\n"), "{on}");
        let (off, changed) = edit(&on, false, true);
        assert_eq!(changed, vec!["passwd", "group", "netgroup"]);
        assert_eq!(off, DEBIAN);
        // No netgroup line: one is added, once.
        let (on, changed) = edit("passwd: files\n# netgroup: nis\n", true, true);
        assert_eq!(changed, vec!["passwd", "netgroup"]);
        assert_eq!(
            on,
            "passwd: files roster\n# netgroup: nis\nnetgroup:       files roster\n"
        );
        assert!(edit(&on, true, true).1.is_empty());
        let (on, _) = edit("passwd: files", true, true);
        assert_eq!(on, "passwd: files roster\nnetgroup:       files roster\n");
        // Without --netgroup the netgroup line is left alone.
        let (on, _) = edit("netgroup: files\n", true, false);
        assert_eq!(on, "netgroup: files\n");
    }
}

//! `rosterctl domain enable|disable|remove NAME`: TrueNAS-style domain
//! switches on the configuration file. The file is edited with `toml_edit`
//! (comments and layout survive), the result is validated with the
//! configuration loader, written atomically, and rosterd is asked to reload.

use super::atomic;
use super::cli::DomainCmd;
use super::context::Ctx;
use super::daemon::{self, DaemonError};
use super::output::print_json;
use anyhow::{bail, Context as _};
use roster_daemon::config::Config;
use roster_proto::AdminRequest;
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use toml_edit::{DocumentMut, Item, Table, Value};

/// What to do to the domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `enabled = true`.
    Enable,
    /// `enabled = false`, settings kept.
    Disable,
    /// Delete the `[[domain]]` table.
    Remove,
}

/// Runs `rosterctl domain ...`.
pub fn run(ctx: &Ctx, cmd: &DomainCmd) -> anyhow::Result<ExitCode> {
    let (action, name, yes) = match cmd {
        DomainCmd::Enable { name } => (Action::Enable, name, false),
        DomainCmd::Disable { name } => (Action::Disable, name, false),
        DomainCmd::Remove { name, yes } => (Action::Remove, name, *yes),
    };
    let path = &ctx.config_path;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let edited = edit(&text, name, action)?;
    let changed = edited != text;
    if changed {
        if action == Action::Remove && !yes {
            confirm(name, &path.display().to_string())?;
        }
        Config::from_str(&edited, &path.display().to_string()).map_err(|e| {
            anyhow::anyhow!(
                "the edited configuration would not load, {} was left unchanged: {e}",
                path.display()
            )
        })?;
        atomic::replace(path, edited.as_bytes())?;
    }
    let (reload, ok) = if changed {
        reload(ctx)
    } else {
        ("not needed".to_string(), true)
    };
    let verb = match action {
        Action::Enable => "enabled",
        Action::Disable => "disabled",
        Action::Remove => "removed",
    };
    if ctx.json {
        print_json(
            &json!({"domain": name, "action": verb, "changed": changed, "file": path, "reload": reload}),
        );
    } else {
        if changed {
            println!("domain \"{name}\" {verb} in {}", path.display());
        } else {
            println!("domain \"{name}\" is already {verb}; nothing changed");
        }
        if changed {
            println!("reload: {reload}");
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Asks rosterd to reload; a daemon that is not running is fine.
fn reload(ctx: &Ctx) -> (String, bool) {
    match daemon::admin(ctx, &AdminRequest::Reload) {
        Ok(_) => ("rosterd reloaded its configuration".into(), true),
        Err(DaemonError::NotRunning(_)) => (
            "rosterd is not running; the change applies when it starts".into(),
            true,
        ),
        Err(e) => (format!("rosterd did not reload: {e}"), false),
    }
}

/// Asks on the terminal; refuses when there is none.
fn confirm(name: &str, file: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to remove domain \"{name}\" without confirmation: no terminal to ask on (pass --yes)");
    }
    eprint!("Remove domain \"{name}\" and all its settings from {file}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        bail!("domain \"{name}\" not removed")
    }
}

/// Applies `action` to the domain called `name` (case-insensitive) in the
/// configuration text, keeping everything else as written.
pub fn edit(text: &str, name: &str, action: Action) -> anyhow::Result<String> {
    let mut doc: DocumentMut = text
        .parse()
        .context("the configuration is not valid TOML")?;
    let Some(item) = doc.get_mut("domain") else {
        bail!("the configuration has no [[domain]] tables");
    };
    let Some(domains) = item.as_array_of_tables_mut() else {
        bail!("`domain` is not written as [[domain]] tables; edit it by hand");
    };
    let index = domains
        .iter()
        .position(|t| domain_name(t).is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .with_context(|| {
            let known: Vec<String> = domains
                .iter()
                .filter_map(domain_name)
                .map(String::from)
                .collect();
            format!(
                "no domain \"{name}\" in the configuration (domains: {})",
                known.join(", ")
            )
        })?;
    match action {
        Action::Remove => domains.remove(index),
        Action::Enable | Action::Disable => {
            let table = domains.get_mut(index).context("domain table vanished")?;
            set_enabled(table, action == Action::Enable);
        }
    }
    Ok(doc.to_string())
}

fn domain_name(t: &Table) -> Option<&str> {
    t.get("name").and_then(Item::as_str)
}

/// Sets `enabled`, keeping the comment and spacing around an existing value.
/// Enabling a domain without the key leaves it absent (true by default).
fn set_enabled(table: &mut Table, on: bool) {
    match table.get_mut("enabled").and_then(Item::as_value_mut) {
        Some(v) => {
            if v.as_bool() == Some(on) {
                return;
            }
            let decor = v.decor().clone();
            *v = Value::from(on);
            *v.decor_mut() = decor;
        }
        None if on => {}
        None => {
            table.insert("enabled", toml_edit::value(false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# roster configuration
[daemon]
socket_dir = "/run/roster" # sockets

# The main directory.
[[domain]]
name = "corp"
uris = ["ldap://a"]   # primary
base_dn = "dc=corp"

[domain.attributes]
username = "uid"

# A second one.
[[domain]]
name = "Lab"
enabled = true # keep me
uris = ["ldap://b"]
base_dn = "dc=lab"
"#;

    #[test]
    fn disable_adds_the_key_and_keeps_comments() {
        let out = edit(TEXT, "corp", Action::Disable).unwrap();
        assert!(
            out.contains("# The main directory.\n[[domain]]\nname = \"corp\"\n"),
            "{out}"
        );
        assert!(out.contains("uris = [\"ldap://a\"]   # primary\n"), "{out}");
        assert!(out.contains("enabled = false"), "{out}");
        let cfg: toml::Table = toml::from_str(&out).unwrap();
        let d = &cfg["domain"].as_array().unwrap()[0];
        assert_eq!(d["enabled"].as_bool(), Some(false));
        assert_eq!(d["attributes"]["username"].as_str(), Some("uid"));
        let back = edit(&out, "CORP", Action::Enable).unwrap();
        let cfg: toml::Table = toml::from_str(&back).unwrap();
        assert_eq!(
            cfg["domain"].as_array().unwrap()[0]["enabled"].as_bool(),
            Some(true)
        );
    }

    #[test]
    fn existing_value_keeps_its_comment() {
        let out = edit(TEXT, "lab", Action::Disable).unwrap();
        assert!(out.contains("enabled = false # keep me\n"), "{out}");
        assert_eq!(edit(TEXT, "lab", Action::Enable).unwrap(), TEXT);
    }

    #[test]
    fn remove_deletes_only_that_table() {
        let out = edit(TEXT, "corp", Action::Remove).unwrap();
        assert!(
            !out.contains("\"corp\"") && !out.contains("username"),
            "{out}"
        );
        assert!(
            out.starts_with(
                "# roster configuration\n[daemon]\nsocket_dir = \"/run/roster\" # sockets\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("# A second one.\n[[domain]]\nname = \"Lab\""),
            "{out}"
        );
        assert!(edit(TEXT, "nope", Action::Remove)
            .unwrap_err()
            .to_string()
            .contains("corp, Lab"));
    }
}

//! `rosterctl join DOMAIN` and `rosterctl leave DOMAIN`: this host's
//! computer account in an Active Directory domain and its host keytab, by
//! `adcli` (what realmd uses): `adcli join` creates the account and writes
//! the keytab (the domain's `keytab`, default /etc/krb5.keytab, mode 0600);
//! `adcli delete-computer` removes the account.
//!
//! The domain's realm and DNS name come from the configuration
//! (`ad_domain`, else `base_dn`), the DC from its `uris` or, without them,
//! from DNS SRV records (the directory layer's discovery). The
//! administrator's password is read from `--password-file` or a prompt
//! without echo, held in a zeroized buffer, and handed to adcli on its
//! standard input (`--stdin-password`), never on a command line.

use super::context::{idmap_of, select_domains, Ctx};
use anyhow::{anyhow, bail, Context as _};
use roster_daemon::config::{Config, DomainConfig, DomainKind};
use roster_daemon::directory::Directory;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Arguments of `rosterctl join` and `rosterctl leave`.
#[derive(Debug, clap::Args)]
pub struct JoinArgs {
    /// The AD domain (a [[domain]] name of the configuration, kind = "ad").
    pub domain: String,
    /// Read the administrator's password from this file (first line)
    /// instead of prompting.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// The account that may create (or delete) computer accounts.
    #[arg(
        long,
        short = 'U',
        value_name = "ADMIN",
        default_value = "Administrator"
    )]
    pub user: String,
    /// The computer account's name (default: this host's short name).
    #[arg(long, value_name = "NAME")]
    pub computer_name: Option<String>,
}

/// The program run (`ROSTER_ADCLI` overrides it, for tests of errors).
fn adcli() -> String {
    std::env::var("ROSTER_ADCLI").unwrap_or_else(|_| "adcli".into())
}

/// What adcli needs to know about the domain.
struct Target {
    name: String,
    dns: String,
    realm: String,
    dc: String,
    keytab: PathBuf,
}

/// The arguments `join` and `delete-computer` share: the domain, its
/// realm and DC, the admin account, the password on standard input.
fn adcli_args(command: &str, t: &Target, a: &JoinArgs) -> Vec<String> {
    vec![
        command.to_string(),
        "--verbose".into(),
        format!("--domain={}", t.dns),
        format!("--domain-realm={}", t.realm),
        format!("--domain-controller={}", t.dc),
        format!("--login-user={}", a.user),
        "--stdin-password".into(),
    ]
}

/// Runs `rosterctl join`.
pub fn join(ctx: &Ctx, a: &JoinArgs) -> anyhow::Result<ExitCode> {
    let t = target(ctx, a)?;
    let password = password(a)?;
    let mut args = adcli_args("join", &t, a);
    args.push(format!("--host-keytab={}", t.keytab.display()));
    if let Some(n) = &a.computer_name {
        args.push(format!("--computer-name={n}"));
    }
    run_adcli(&t, "join", &args, &password)?;
    // adcli writes the keytab 0600; make sure of it (an existing file
    // keeps its mode).
    std::fs::set_permissions(&t.keytab, std::fs::Permissions::from_mode(0o600)).with_context(
        || {
            format!(
                "domain \"{}\": joined, but the keytab {} cannot be made mode 0600",
                t.name,
                t.keytab.display()
            )
        },
    )?;
    let keys = crate::keytab::read(&t.keytab)
        .map_err(|e| anyhow!("domain \"{}\": joined, but the keytab: {e}", t.name))?;
    let mut principals: Vec<&str> = keys.iter().map(|k| k.principal.as_str()).collect();
    principals.dedup();
    println!(
        "joined {} (realm {}) through {}: keytab {} ({} keys: {})",
        t.dns,
        t.realm,
        t.dc,
        t.keytab.display(),
        keys.len(),
        principals.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `rosterctl leave`.
pub fn leave(ctx: &Ctx, a: &JoinArgs) -> anyhow::Result<ExitCode> {
    let t = target(ctx, a)?;
    let password = password(a)?;
    let mut args = adcli_args("delete-computer", &t, a);
    if let Some(n) = &a.computer_name {
        args.push(n.clone());
    }
    run_adcli(&t, "leave (delete-computer)", &args, &password)?;
    // The keys of a deleted account are useless; the file goes when every
    // key in it is of this realm (another service's keys keep it).
    let note = match crate::keytab::read(&t.keytab) {
        Ok(keys) if keys.iter().all(|k| k.realm == t.realm) => {
            std::fs::remove_file(&t.keytab).with_context(|| {
                format!(
                    "domain \"{}\": left, but the keytab {} cannot be removed",
                    t.name,
                    t.keytab.display()
                )
            })?;
            format!("keytab {} removed", t.keytab.display())
        }
        Ok(_) => format!(
            "keytab {} kept: it holds keys of other realms",
            t.keytab.display()
        ),
        Err(_) => "no keytab to remove".to_string(),
    };
    println!(
        "left {} (realm {}) through {}: {note}",
        t.dns, t.realm, t.dc
    );
    Ok(ExitCode::SUCCESS)
}

/// The domain's names, DC and keytab; errors name the domain.
fn target(ctx: &Ctx, a: &JoinArgs) -> anyhow::Result<Target> {
    let cfg = ctx.load_config()?;
    let d = select_domains(&cfg, Some(&a.domain))?[0];
    if d.kind != DomainKind::Ad {
        bail!(
            "domain \"{}\" is kind = \"ldap\": join and leave are for Active Directory domains (kind = \"ad\")",
            d.name
        );
    }
    let dns = d.dns_domain().ok_or_else(|| {
        anyhow!(
            "domain \"{}\": no DNS domain (base_dn has no DC= components): set ad_domain",
            d.name
        )
    })?;
    let realm = d.realm().unwrap_or_else(|| dns.to_ascii_uppercase());
    let dc = domain_controller(&cfg, d)?;
    Ok(Target {
        name: d.name.clone(),
        dns,
        realm,
        dc,
        keytab: d.keytab_path(),
    })
}

/// The first DC of the domain: the host of its first URI, or the first
/// found in DNS (SRV) when it has none.
fn domain_controller(cfg: &Config, d: &DomainConfig) -> anyhow::Result<String> {
    let idmap = Arc::new(idmap_of(cfg)?);
    let dir =
        Directory::new(d.clone(), idmap).map_err(|e| anyhow!("domain \"{}\": {e}", d.name))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let uris = rt
        .block_on(dir.servers())
        .map_err(|e| anyhow!("domain \"{}\": no domain controller: {e}", d.name))?;
    let first = uris
        .first()
        .ok_or_else(|| anyhow!("domain \"{}\": no domain controller known", d.name))?;
    let u = roster_daemon::uri::parse(first).map_err(|e| anyhow!("domain \"{}\": {e}", d.name))?;
    Ok(u.host)
}

/// The administrator's password: the first line of `--password-file`, or
/// typed at a prompt without echo. Empty is refused.
fn password(a: &JoinArgs) -> anyhow::Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    match &a.password_file {
        Some(f) => {
            let mut file = std::fs::File::open(f)
                .with_context(|| format!("--password-file {}", f.display()))?;
            file.read_to_string(&mut text)
                .with_context(|| format!("--password-file {}", f.display()))?;
        }
        None => {
            text = prompt(&format!("Password for {}: ", a.user))?;
        }
    }
    let line = Zeroizing::new(text.lines().next().unwrap_or("").to_string());
    if line.is_empty() {
        bail!("empty password for {} refused", a.user);
    }
    Ok(line)
}

/// Reads one line from the terminal with echo off (stdin when it is not a
/// terminal).
fn prompt(text: &str) -> anyhow::Result<Zeroizing<String>> {
    let stdin = std::io::stdin();
    let fd = libc::STDIN_FILENO;
    // SAFETY: isatty on a descriptor number; no memory is passed.
    let tty = unsafe { libc::isatty(fd) } == 1;
    let mut saved: Option<libc::termios> = None;
    if tty {
        eprint!("{text}");
        let _ = std::io::stderr().flush();
        // SAFETY: tcgetattr fills the zeroed termios we own.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `t` is a valid, writable termios.
        if unsafe { libc::tcgetattr(fd, &mut t) } == 0 {
            saved = Some(t);
            t.c_lflag &= !libc::ECHO;
            t.c_lflag |= libc::ECHONL;
            // SAFETY: `t` is a valid termios read from the same terminal.
            unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
        }
    }
    let mut line = Zeroizing::new(String::new());
    let read = stdin.read_line(&mut line);
    if let Some(t) = saved {
        // SAFETY: restores the settings read above on the same terminal.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
    }
    read.context("reading the password")?;
    Ok(line)
}

/// Runs adcli with `args`, the password on its stdin; a failure names the
/// domain, the DC and adcli's own messages (never the password).
fn run_adcli(t: &Target, what: &str, args: &[String], password: &str) -> anyhow::Result<()> {
    let program = adcli();
    let mut child = Command::new(&program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "domain \"{}\": {what}: cannot run {program} (install Debian's adcli package)",
                t.name
            )
        })?;
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        let mut buf = Zeroizing::new(Vec::with_capacity(password.len() + 1));
        buf.extend_from_slice(password.as_bytes());
        buf.push(b'\n');
        // adcli may exit before reading (bad arguments): its status says why.
        let _ = stdin.write_all(&buf);
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("domain \"{}\": {what}: waiting for {program}", t.name))?;
    if out.status.success() {
        return Ok(());
    }
    let text = scrub(&String::from_utf8_lossy(&out.stderr), password);
    let stdout = scrub(&String::from_utf8_lossy(&out.stdout), password);
    // adcli's verbose lines start with " * "; its errors with "!" or
    // "adcli:": those say what failed.
    let mut lines: Vec<&str> = text
        .lines()
        .chain(stdout.lines())
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with('!') || l.starts_with("adcli:")
        })
        .collect();
    if lines.is_empty() {
        lines = text.lines().rev().take(5).collect::<Vec<_>>();
        lines.reverse();
    }
    bail!(
        "domain \"{}\": {what} through domain controller {} failed ({program} {}): {}",
        t.name,
        t.dc,
        out.status,
        lines.join(" / ")
    )
}

/// `text` with every occurrence of `secret` replaced.
fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    text.replace(secret, "********")
}

/// Used by `rosterctl test`: the keytab of a domain, when it should be
/// checked (configured, or the default file exists).
pub fn keytab_to_check(d: &DomainConfig) -> Option<PathBuf> {
    if d.kind != DomainKind::Ad {
        return None;
    }
    match &d.keytab {
        Some(k) => Some(k.clone()),
        None => {
            let p = d.keytab_path();
            Path::new(&p).exists().then_some(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_from_messages() {
        assert_eq!(
            scrub("! bad password s3cret for x", "s3cret"),
            "! bad password ******** for x"
        );
        assert_eq!(scrub("nothing", ""), "nothing");
    }
}

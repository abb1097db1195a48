//! The command-line definition (clap derive); completions and man pages are
//! generated from it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Administer roster: test the directory connection, inspect and control
/// rosterd, edit the configuration and nsswitch.conf.
#[derive(Debug, Parser)]
#[command(name = "rosterctl", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, value_name = "FILE", default_value = roster_proto::DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// Directory of rosterd's sockets (default: the configuration's
    /// [daemon] socket_dir, else /run/roster).
    #[arg(long, global = true, value_name = "DIR")]
    pub socket_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// rosterctl's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Test the connection to the directory step by step (DNS, TCP, TLS,
    /// StartTLS, bind, search bases, filters, entries, ID mapping).
    ///
    /// Every URI of a domain gets the connection steps (DNS, TCP, StartTLS,
    /// TLS with the certificate's subject, issuer and expiry); the directory
    /// steps (the TLS library rosterd's connection used, bind, base DN and
    /// search bases, what the filters find, the
    /// entries this host refuses and why, limit_to_groups, a sample of the
    /// ID mapping) run on the first server that passed. Each step prints OK,
    /// WARN or FAIL with the precise reason, and the steps that depend on a
    /// failed one are not run. Reads the configuration only: rosterd need
    /// not run. Exit status 0 when no step failed, 1 otherwise.
    Test(TestArgs),
    /// Show whether rosterd runs, the state of each domain and the cache.
    Status,
    /// Ask rosterd about a user, group or SID, with the answer's source (root).
    #[command(subcommand)]
    Lookup(LookupCmd),
    /// Print a user's SSH public keys for sshd's AuthorizedKeysCommand.
    ///
    /// Asks rosterd on the unprivileged nss.sock, so it works as the
    /// AuthorizedKeysCommandUser (e.g. nobody); keys are served from the
    /// cache when the directory is unreachable. One `type base64 [comment]`
    /// line per key. Exit status 0 with the keys, 0 with no output when the
    /// user has none or is a local (/etc/passwd) user, 1 when the user is
    /// unknown or rosterd cannot answer (the reason on stderr).
    SshKeys(SshKeysArgs),
    /// List the users the directory yields for this host (no daemon needed).
    Users(ListArgs),
    /// List the groups the directory yields for this host (no daemon needed).
    Groups(ListArgs),
    /// Flush rosterd's cache or show its statistics (root).
    #[command(subcommand)]
    Cache(CacheCmd),
    /// Enable, disable or remove a [[domain]] of the configuration file.
    ///
    /// The file is edited in place keeping its comments and layout, checked
    /// with the configuration loader, replaced atomically (same mode), and
    /// rosterd is asked to reload (a daemon that is not running is fine).
    #[command(subcommand)]
    Domain(DomainCmd),
    /// ID mapping tools.
    #[command(subcommand)]
    Idmap(IdmapCmd),
    /// Configuration file tools.
    #[command(subcommand, name = "config")]
    ConfigFile(ConfigCmd),
    /// Add or remove roster in the passwd and group lines of nsswitch.conf.
    #[command(subcommand)]
    Nsswitch(NsswitchCmd),
    /// Join an Active Directory domain: create this host's computer
    /// account and write the host keytab (runs `adcli join`).
    ///
    /// The realm and DNS domain come from the domain's ad_domain (else its
    /// base_dn), the DC from its uris or DNS SRV records; the keytab is
    /// the domain's `keytab` (default /etc/krb5.keytab), mode 0600. The
    /// password is read from --password-file or a prompt without echo, and
    /// passed to adcli on its standard input. Exit status 0 when joined.
    Join(crate::join::JoinArgs),
    /// Leave an Active Directory domain: delete this host's computer
    /// account (runs `adcli delete-computer`) and remove the keytab when
    /// it holds only that realm's keys.
    Leave(crate::join::JoinArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Write man pages (one per command) or print rosterctl(1).
    Manpage(ManpageArgs),
}

/// Arguments of `rosterctl test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test only this domain (default: every enabled domain).
    pub domain: Option<String>,
    /// How many users to show with their ID mapping.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub sample: usize,
    /// The idmapd.conf whose NFSv4 Domain is compared with the directory's
    /// DNS domain (default: /etc/idmapd.conf).
    #[arg(long, value_name = "PATH")]
    pub idmapd_conf: Option<std::path::PathBuf>,
}

/// Arguments of `rosterctl ssh-keys`.
#[derive(Debug, Args)]
pub struct SshKeysArgs {
    /// Login name (NAME or NAME@DOMAIN), as sshd's `%u` gives it.
    pub user: String,
}

/// Arguments of `rosterctl users` and `rosterctl groups`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// List only this domain (default: every enabled domain).
    pub domain: Option<String>,
}

/// `rosterctl lookup ...`.
#[derive(Debug, Subcommand)]
pub enum LookupCmd {
    /// A user by login name or UID.
    User {
        /// Login name or numeric UID.
        key: String,
    },
    /// A group by name or GID.
    Group {
        /// Group name or numeric GID.
        key: String,
    },
    /// A netgroup by name: its triples, nested netgroups resolved.
    Netgroup {
        /// Netgroup name.
        name: String,
    },
    /// An object by Windows SID (Active Directory domains).
    Sid {
        /// The SID, e.g. S-1-5-21-1-2-3-1104.
        sid: String,
    },
}

/// `rosterctl cache ...`.
#[derive(Debug, Subcommand)]
pub enum CacheCmd {
    /// Drop cached entries: one user, one group, or everything.
    Flush(FlushArgs),
    /// Show the cache's entry count, hits and misses.
    Stats,
    /// Delete cached passwords (offline logins): one user's or all.
    ///
    /// USER is a name (its cached password in every domain) or
    /// NAME@DOMAIN; the user's next offline login fails until an online
    /// login caches the password again.
    ForgetCredentials(ForgetArgs),
    /// Clear a user's offline lockout (too many wrong passwords while the
    /// directory was unreachable), keeping the cached password.
    ///
    /// USER is a name (in every domain) or NAME@DOMAIN.
    Unlock {
        /// The user (NAME or NAME@DOMAIN).
        user: String,
    },
}

/// Whose cached passwords `rosterctl cache forget-credentials` deletes.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ForgetArgs {
    /// This user (NAME or NAME@DOMAIN).
    #[arg(value_name = "USER")]
    pub user: Option<String>,
    /// Every user.
    #[arg(long)]
    pub all: bool,
}

/// What `rosterctl cache flush` drops.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct FlushArgs {
    /// Drop this user.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Drop this group.
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Drop this netgroup (and every netgroup held in memory: any may
    /// include it).
    #[arg(long, value_name = "NAME")]
    pub netgroup: Option<String>,
    /// Drop every entry.
    #[arg(long)]
    pub all: bool,
}

/// `rosterctl domain ...`.
#[derive(Debug, Subcommand)]
pub enum DomainCmd {
    /// Serve the domain again (`enabled = true`).
    Enable {
        /// The domain's name.
        name: String,
    },
    /// Stop serving the domain but keep its settings (`enabled = false`).
    Disable {
        /// The domain's name.
        name: String,
    },
    /// Delete the domain's [[domain]] table from the configuration.
    Remove {
        /// The domain's name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// `rosterctl idmap ...`.
#[derive(Debug, Subcommand)]
pub enum IdmapCmd {
    /// Read SIDs or numeric IDs on stdin, print `input<TAB>result` or
    /// `input<TAB>-<TAB>reason` per line.
    Map,
    /// Print this host's complete allocation table (sss slices and
    /// autorid ranges): `DOMAIN-SID BLOCK FIRST-LAST` per line, sorted.
    Export,
    /// Compare this host's allocation table with another host's export
    /// and name every disagreement (exit 1 when there is one).
    Diff {
        /// The other host's `rosterctl idmap export` output (`-` for stdin).
        file: std::path::PathBuf,
    },
    /// Forget the sss slices and autorid ranges recorded for a domain in
    /// the state directory (stop rosterd first): its IDs are assigned
    /// anew at the next start.
    Reset {
        /// The domain's name.
        domain: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// `rosterctl config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Load and validate the configuration file; print OK or the error with
    /// file:line and key.
    Check,
}

/// `rosterctl nsswitch ...`.
#[derive(Debug, Subcommand)]
pub enum NsswitchCmd {
    /// Add `roster` after `files` on the passwd and group lines (and the
    /// netgroup line with --netgroup).
    Enable(NsswitchArgs),
    /// Remove `roster` from the passwd, group and netgroup lines.
    Disable(NsswitchArgs),
}

/// The file `rosterctl nsswitch` edits.
#[derive(Debug, Args)]
pub struct NsswitchArgs {
    /// The nsswitch.conf to edit.
    #[arg(long, value_name = "FILE", default_value = "/etc/nsswitch.conf")]
    pub file: PathBuf,
    /// enable: also serve netgroups (`netgroup: files roster` is added
    /// when the file has no netgroup line).
    #[arg(long)]
    pub netgroup: bool,
}

/// Shells `rosterctl completions` knows.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ShellKind {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// Arguments of `rosterctl completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: ShellKind,
}

/// Arguments of `rosterctl manpage`.
#[derive(Debug, Args)]
pub struct ManpageArgs {
    /// Write rosterctl.1 and one rosterctl-COMMAND.1 per command here
    /// (default: print rosterctl.1 on stdout).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flush_needs_exactly_one_target() {
        assert!(Cli::try_parse_from(["rosterctl", "cache", "flush"]).is_err());
        assert!(
            Cli::try_parse_from(["rosterctl", "cache", "flush", "--all", "--user", "a"]).is_err()
        );
        assert!(Cli::try_parse_from(["rosterctl", "cache", "flush", "--user", "a"]).is_ok());
    }

    #[test]
    fn ssh_keys_and_unlock_take_one_user() {
        let cli = Cli::try_parse_from(["rosterctl", "ssh-keys", "alice"]).unwrap();
        assert!(matches!(cli.command, Command::SshKeys(a) if a.user == "alice"));
        assert!(Cli::try_parse_from(["rosterctl", "ssh-keys"]).is_err());
        let cli = Cli::try_parse_from(["rosterctl", "cache", "unlock", "bob@corp"]).unwrap();
        assert!(
            matches!(cli.command, Command::Cache(CacheCmd::Unlock { user }) if user == "bob@corp")
        );
        assert!(Cli::try_parse_from(["rosterctl", "cache", "unlock"]).is_err());
    }

    #[test]
    fn join_and_leave_take_a_domain() {
        let cli = Cli::try_parse_from([
            "rosterctl",
            "join",
            "ad",
            "--password-file",
            "/p",
            "--user",
            "admin",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Join(a)
            if a.domain == "ad" && a.user == "admin" && a.password_file.as_deref() == Some(std::path::Path::new("/p"))));
        let cli = Cli::try_parse_from(["rosterctl", "leave", "ad"]).unwrap();
        assert!(matches!(cli.command, Command::Leave(a) if a.user == "Administrator"));
        assert!(Cli::try_parse_from(["rosterctl", "join"]).is_err());
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli =
            Cli::try_parse_from(["rosterctl", "status", "--json", "--socket-dir", "/x"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.socket_dir.as_deref(), Some(std::path::Path::new("/x")));
    }
}

//! What every command needs: the global options, the configuration and
//! the daemon's socket paths.

use super::cli::Cli;
use anyhow::Context as _;
use roster_daemon::config::{Config, DomainConfig, DomainSet};
use roster_idmap::StoreMode;
use std::path::{Path, PathBuf};

/// The global options of one invocation.
pub struct Ctx {
    /// `--config`.
    pub config_path: PathBuf,
    /// `--socket-dir`, when given.
    pub socket_dir: Option<PathBuf>,
    /// `--json`.
    pub json: bool,
}

impl Ctx {
    /// Takes the global options out of the parsed command line.
    pub fn from_cli(cli: &Cli) -> Ctx {
        Ctx {
            config_path: cli.config.clone(),
            socket_dir: cli.socket_dir.clone(),
            json: cli.json,
        }
    }

    /// Loads and validates the configuration file.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        Config::load(&self.config_path).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The socket directory: `--socket-dir`, else the configuration's
    /// `[daemon] socket_dir` (read leniently, without validating the rest
    /// of the file, so that a non-root user can run `status`), else
    /// `/run/roster`.
    pub fn socket_dir(&self) -> PathBuf {
        if let Some(d) = &self.socket_dir {
            return d.clone();
        }
        socket_dir_from_file(&self.config_path)
            .unwrap_or_else(|| PathBuf::from(roster_proto::DEFAULT_SOCKET_DIR))
    }

    /// Path of `nss.sock`.
    pub fn nss_socket(&self) -> PathBuf {
        self.socket_dir().join(roster_proto::NSS_SOCKET_NAME)
    }

    /// Path of the root-only `pam.sock` (admin commands).
    pub fn pam_socket(&self) -> PathBuf {
        self.socket_dir().join(roster_proto::PAM_SOCKET_NAME)
    }
}

fn socket_dir_from_file(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    let dir = table.get("daemon")?.get("socket_dir")?.as_str()?;
    Some(PathBuf::from(dir))
}

/// The ID mapping of every configured domain as rosterd sees it: autorid
/// allocations and sss slices are read from the state directory (and the
/// directory store), never written.
pub fn idmap_of(cfg: &Config) -> anyhow::Result<DomainSet> {
    roster_daemon::config::build_idmap_with(cfg, StoreMode::ReadOnly(&cfg.daemon.state_dir))
        .map_err(|e| anyhow::anyhow!("ID mapping: {e}"))
}

/// The domains a command works on: the one named (enabled or not), or every
/// enabled domain.
pub fn select_domains<'a>(
    cfg: &'a Config,
    name: Option<&str>,
) -> anyhow::Result<Vec<&'a DomainConfig>> {
    match name {
        Some(n) => {
            let d = cfg.domain(n).with_context(|| {
                let known: Vec<&str> = cfg.domains.iter().map(|d| d.name.as_str()).collect();
                format!(
                    "no domain \"{n}\" in the configuration (domains: {})",
                    known.join(", ")
                )
            })?;
            Ok(vec![d])
        }
        None => {
            let v: Vec<&DomainConfig> = cfg.enabled_domains().collect();
            anyhow::ensure!(!v.is_empty(), "the configuration has no enabled [[domain]]");
            Ok(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_dir_precedence() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("roster.toml");
        std::fs::write(&cfg, "[daemon]\nsocket_dir = \"/tmp/somewhere\"\n").unwrap();
        let mut ctx = Ctx {
            config_path: cfg,
            socket_dir: None,
            json: false,
        };
        assert_eq!(ctx.socket_dir(), PathBuf::from("/tmp/somewhere"));
        ctx.socket_dir = Some("/x".into());
        assert_eq!(ctx.pam_socket(), PathBuf::from("/x/pam.sock"));
        ctx.socket_dir = None;
        ctx.config_path = d.path().join("missing.toml");
        assert_eq!(ctx.nss_socket(), PathBuf::from("/run/roster/nss.sock"));
    }
}

//! `rosterd`: the roster cache daemon.
//!
//! `rosterd [--config FILE] [--foreground] [--check-config] [--user NAME]`
//!
//! Serves `nss.sock`, `pam.sock` and `pam-user.sock` in `[daemon] socket_dir`, keeps its
//! persistent cache in `state_dir`, publishes `nss.conf` for the NSS module
//! (and the same text in the memory cache `nss.mc`, where the module reads
//! it first),
//! reloads its configuration on SIGHUP (a bad new file is logged and the old
//! configuration kept), stops cleanly on SIGTERM/SIGINT, and tells systemd
//! when it is ready (`READY=1` to `$NOTIFY_SOCKET`, for `Type=notify`). It
//! never detaches: run it under systemd or in the foreground.
//!
//! Files: `socket_dir/nss.sock` (0666), `socket_dir/pam.sock` (0600, root
//! peers only), `socket_dir/pam-user.sock` (0666, a peer authenticates its
//! own account only), `socket_dir/nss.conf` (the `[nss]` settings for the NSS
//! module), `socket_dir/nss.mc` (the NSS memory cache), and
//! `state_dir/cache.log` (the persistent cache used in offline mode; see
//! [`roster_daemon::store`]). `socket_dir` is created 0755 and `state_dir`
//! 0700 when missing.
//!
//! Unprivileged: with `--user _roster`, rosterd started as root creates
//! `socket_dir` and `state_dir`, gives them (and, the first time, what a
//! root-run rosterd left in them) to that user, and becomes it — before it
//! reads its configuration, opens its store or binds a socket (see
//! [`rosterd::privileges`]). Started as that user already (the
//! unit's `User=_roster`), it has nothing to drop. Either way the
//! configuration and secret files are read as `_roster`, at start and at
//! every SIGHUP alike; `pam.sock` keeps checking that its peer is root.

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use roster_daemon::cache::SystemClock;
use roster_daemon::config::{Config, ConfigError, DaemonSettings};
use roster_daemon::registry::Generation;
use roster_daemon::resolver::{Resolver, Settings};
use roster_daemon::store::Store;
use rosterd::memcache_publish::MemcachePublisher;
use rosterd::privileges::{self, DaemonUser};
use rosterd::server::{notify, nss_conf, pam, Context, Limits, ReloadRequest, Server};
use std::io::IsTerminal;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

#[derive(Parser, Debug)]
#[command(name = "rosterd", version, about = "roster identity cache daemon")]
struct Args {
    /// Configuration file.
    #[arg(long, short, default_value = roster_proto::DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// Stay attached to the terminal (rosterd never detaches; accepted for
    /// compatibility with init scripts).
    #[arg(long, short)]
    foreground: bool,
    /// Validate the configuration and exit (0 when valid).
    #[arg(long)]
    check_config: bool,
    /// Run as this system user (`_roster`). Started as root, rosterd
    /// hands `socket_dir` and `state_dir` to it and becomes it before
    /// reading the configuration; started as that user, nothing changes.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
}

fn main() -> ExitCode {
    // Before any thread exists: nothing in this process may resolve names
    // through libnss_roster (it would ask this very daemon).
    std::env::set_var(roster_proto::LOOP_GUARD_ENV, "1");
    rosterd::server::procstat::tune_allocator();
    let args = Args::parse();
    let started_as_root = nix::unistd::geteuid().is_root();
    let user = match become_daemon_user(&args) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("rosterd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check_config {
        return match roster_daemon::config::check(&args.config) {
            Ok(c) => {
                for w in &c.warnings {
                    eprintln!("rosterd: warning: {w}");
                }
                println!("{}: configuration is valid", args.config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rosterd: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rosterd: {e}");
            if let (Some(u), ConfigError::Read { source, .. }) = (&user, &e) {
                if source.kind() == std::io::ErrorKind::PermissionDenied {
                    eprintln!(
                        "rosterd: the configuration is read as {0} (at start and at every reload): \
                         make it readable by {0} (chgrp {0} FILE; chmod 0640 FILE)",
                        u.name
                    );
                }
            }
            return ExitCode::FAILURE;
        }
    };
    let set_log_level = init_logging(&config.daemon.log_level);
    log_warnings(&config);
    match &user {
        Some(u) => tracing::info!(
            user = %u.name,
            uid = u.uid.as_raw(),
            dropped_from_root = started_as_root,
            "running unprivileged"
        ),
        None if started_as_root => tracing::warn!(
            "rosterd runs as root: start it with --user {} (or the unit's User=) to run unprivileged",
            privileges::DAEMON_USER
        ),
        None => {}
    }
    // One thread: a lookup is a few hand-offs between tasks (connection,
    // ldap3's connection driver, timers); on one thread they cost a queue
    // push, across worker threads a futex wake and a scheduler round each
    // (measured: cold lookups and socket round trips were slower with the
    // multi-thread runtime). CPU-heavy work (argon2) has its own bounded
    // worker (auth::hasher), file writes use spawn_blocking,
    // the persistent store has its own writer thread.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("rosterd")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rosterd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args.config, config, set_log_level)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs what loading the configuration accepted with a warning.
fn log_warnings(config: &Config) {
    for w in &config.warnings {
        tracing::warn!("configuration: {w}");
    }
}

/// Changes the log filter (configuration reload).
type SetLogLevel = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

fn level_setter<S>(
    handle: tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, S>,
    fixed_by_env: bool,
) -> SetLogLevel
where
    S: 'static,
{
    Box::new(move |level: &str| {
        if fixed_by_env {
            return Ok(()); // RUST_LOG wins over the configuration
        }
        let filter = tracing_subscriber::EnvFilter::try_new(level)
            .map_err(|e| format!("log_level {level:?}: {e}"))?;
        handle.reload(filter).map_err(|e| e.to_string())
    })
}

/// Plain lines on stderr; no colours unless stderr is a terminal; no
/// timestamps under systemd (the journal adds its own). `RUST_LOG`, when
/// set, overrides `log_level`.
fn init_logging(level: &str) -> SetLogLevel {
    use tracing_subscriber::EnvFilter;
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok());
    let fixed_by_env = from_env.is_some();
    let filter = from_env
        .or_else(|| EnvFilter::try_new(level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        let builder = builder.without_time().with_filter_reloading();
        let handle = builder.reload_handle();
        builder.init();
        level_setter(handle, fixed_by_env)
    } else {
        let builder = builder.with_filter_reloading();
        let handle = builder.reload_handle();
        builder.init();
        level_setter(handle, fixed_by_env)
    }
}

/// Creates `dir` with `mode` if missing (an existing directory is left as
/// it is, with a warning if others may write to it).
fn ensure_dir(dir: &Path, mode: u32, what: &str) -> Result<()> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(dir)
            .with_context(|| format!("cannot create {what} {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the mode of {what} {}", dir.display()))?;
    }
    let meta = std::fs::metadata(dir).with_context(|| format!("{what} {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{what} {} is not a directory", dir.display());
    }
    if meta.permissions().mode() & 0o002 != 0 {
        tracing::warn!(dir = %dir.display(), "{what} is writable by everyone");
    }
    Ok(())
}

/// With `--user`: looks the user up and, when started as root, prepares
/// the directories of the configuration's `[daemon]` table for it (not for
/// `--check-config`) and becomes it. Returns the user rosterd now runs as.
fn become_daemon_user(args: &Args) -> Result<Option<DaemonUser>> {
    let Some(name) = &args.user else {
        return Ok(None);
    };
    let user = DaemonUser::lookup(name)?;
    if !user.must_drop_from(nix::unistd::geteuid())? {
        return Ok(Some(user));
    }
    if !args.check_config {
        // Only where the directories are: the rest of the file (and the
        // secrets it names) is read after the drop, as at a reload. An
        // unreadable or broken file is reported by that load.
        if let Some(dirs) = daemon_dirs(&args.config) {
            ensure_dir(&dirs.socket_dir, 0o755, "socket directory")?;
            ensure_dir(&dirs.state_dir, 0o700, "state directory")?;
            privileges::hand_over_dir(&dirs.socket_dir, &user)?;
            privileges::hand_over_dir(&dirs.state_dir, &user)?;
        }
    }
    privileges::drop_to(&user)?;
    Ok(Some(user))
}

/// The `[daemon]` table of the configuration file (defaults when absent);
/// `None` when the file cannot be read or parsed.
fn daemon_dirs(config: &Path) -> Option<DaemonSettings> {
    let text = std::fs::read_to_string(config).ok()?;
    DaemonSettings::of_text(&text).ok()
}

struct Daemon {
    config_path: PathBuf,
    set_log_level: SetLogLevel,
    config: Config,
    /// The domain registry in service (see [`roster_daemon::registry`]).
    generation: Arc<Generation>,
    ctx: Arc<Context>,
}

impl Daemon {
    /// Loads the configuration file again and applies it; on any error the
    /// running configuration stays.
    async fn reload(&mut self) -> Result<()> {
        let new = Config::load(&self.config_path)?;
        log_warnings(&new);
        // Checked before anything changes, applied last.
        tracing_subscriber::EnvFilter::try_new(&new.daemon.log_level)
            .map_err(|e| anyhow::anyhow!("log_level {:?}: {e}", new.daemon.log_level))?;
        let (old_d, new_d) = (&self.config.daemon, &new.daemon);
        if old_d.socket_dir != new_d.socket_dir || old_d.state_dir != new_d.state_dir {
            tracing::warn!("socket_dir and state_dir changes take effect at the next restart");
        }
        // The whole next generation (ID mapping, directories, PAM
        // settings), built before anything changes, on a blocking thread:
        // opening the ID mapping takes the autorid lock files and may read
        // a directory store, which the event loop never waits for (the
        // running generation serves meanwhile).
        let generation = {
            let (config, previous) = (new.clone(), self.generation.clone());
            let state_dir = self.config.daemon.state_dir.clone();
            tokio::task::spawn_blocking(move || {
                Generation::build(&config, Some(&state_dir), Some(&previous))
            })
            .await
            .context("building the new configuration's domains failed")??
        };
        // The last step that can fail; everything after it cannot, so a
        // refused reload leaves the running configuration whole.
        let nss_text = nss_conf::write(&self.config.daemon.socket_dir, &new.nss)
            .context("cannot publish nss.conf")?;
        // Resolver and PAM switch together.
        self.ctx
            .install(&generation, Settings::from_config(&new.cache, &new.nss));
        if let Some(mc) = &self.ctx.memcache {
            mc.set_limit(new.nss.memcache_size as usize);
            mc.set_settings(nss_text.as_bytes());
            mc.flush();
        }
        // The listings of the new configuration are taken now (with
        // `enumerate = true`), not when a page next asks.
        self.ctx
            .resolver
            .enumerate_in_background(rosterd::server::procstat::trim_heap);
        tracing::info!(
            generation = generation.id(),
            domains = generation.len(),
            kept_cache = generation.kept().len(),
            "configuration reloaded"
        );
        if let Err(e) = (self.set_log_level)(&new.daemon.log_level) {
            tracing::warn!(error = %e, "log level unchanged");
        }
        roster_daemon::directory::busy_poll::set_window(new.daemon.busy_poll_window);
        generation.connect_in_background();
        self.generation = Arc::new(generation);
        self.config = new;
        Ok(())
    }

    async fn reload_logged(&mut self) -> Result<(), String> {
        self.reload().await.map_err(|e| {
            let msg = format!("{e:#}");
            tracing::error!(error = %msg, "reload refused; keeping the running configuration");
            msg
        })
    }
}

async fn run(config_path: PathBuf, config: Config, set_log_level: SetLogLevel) -> Result<()> {
    let started = std::time::Instant::now();
    // The runtime's thread polls instead of sleeping while a large answer
    // streams in (`roster_daemon::directory::busy_poll`), for the
    // configured window after each entry.
    roster_daemon::directory::busy_poll::set_window(config.daemon.busy_poll_window);
    tokio::spawn(roster_daemon::directory::busy_poll::keep_polling());
    let socket_dir = config.daemon.socket_dir.clone();
    let state_dir = config.daemon.state_dir.clone();
    ensure_dir(&socket_dir, 0o755, "socket directory")?;
    ensure_dir(&state_dir, 0o700, "state directory")?;

    let offline_ms = match config.cache.offline_max_age {
        0 => u64::MAX,
        s => s.saturating_mul(1000),
    };
    let store = match Store::open(&state_dir, offline_ms) {
        Ok(s) => Some(Arc::new(s)),
        Err(e) => {
            tracing::error!(error = %e, "running without a persistent cache");
            None
        }
    };
    let generation = Generation::build(&config, Some(&state_dir), None)?;
    if generation.is_empty() {
        tracing::warn!("no enabled domain: every lookup will answer \"not found\"");
    }
    let resolver = Resolver::new(
        generation.providers(),
        Settings::from_config(&config.cache, &config.nss),
        store.clone(),
        Arc::new(SystemClock),
    );
    let nss_text = nss_conf::write(&socket_dir, &config.nss).context("cannot publish nss.conf")?;
    // The memory cache carries nss.conf's text too: a new process's first
    // lookup maps it and reads no other file.
    let memcache = match MemcachePublisher::start(
        &socket_dir,
        config.nss.memcache_size as usize,
        Some(nss_text.as_bytes()),
    ) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(error = %e, "no NSS memory cache: every lookup uses nss.sock");
            None
        }
    };
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let ctx = Arc::new(Context {
        pam: pam::PamState::new(&config),
        resolver,
        reload: Some(reload_tx),
        memcache,
    });
    ctx.pam.install(&generation, &ctx.resolver);
    let server = Server::start(
        &socket_dir,
        ctx.clone(),
        Limits::default().fit_descriptor_limit(),
    )?;
    if ctx.memcache.is_none() {
        // A file an earlier rosterd left (killed before it retired it)
        // would keep serving its records and settings. (Only once the
        // sockets are this daemon's: a second rosterd stops above, before
        // it could withdraw a running one's file.)
        let stale = socket_dir.join(roster_proto::memcache::MEMCACHE_FILE_NAME);
        if let Err(e) = roster_proto::memcache::withdraw(&stale) {
            tracing::warn!(error = %e, path = %stale.display(), "cannot withdraw the memory cache an earlier rosterd left");
        }
    }
    let mut daemon = Daemon {
        config_path,
        set_log_level,
        config,
        generation: Arc::new(generation),
        ctx,
    };
    tracing::info!(
        socket_dir = %socket_dir.display(),
        domains = daemon.generation.len(),
        persistent_entries = store.as_ref().map_or(0, |s| s.len()),
        startup_ms = started.elapsed().as_millis() as u64,
        "rosterd ready"
    );
    // The directories' connections are made now, once the sockets answer,
    // as SSSD goes online at start: a first lookup finds them made.
    daemon.generation.connect_in_background();
    if let Err(e) = notify::sd_notify("READY=1") {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
    // With `enumerate = true`, the first listings are taken now, as SSSD
    // enumerates at start-up, once the sockets answer; the heap they
    // leave free is handed back, as after a listing's last page.
    daemon
        .ctx
        .resolver
        .enumerate_in_background(rosterd::server::procstat::trim_heap);

    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                let _ = notify::sd_notify("RELOADING=1");
                let _ = daemon.reload_logged().await;
                let _ = notify::sd_notify("READY=1");
            }
            Some(done) = reload_rx.recv() => {
                tracing::info!("reload asked by an admin command");
                let _ = done.send(daemon.reload_logged().await);
            }
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
        }
    }
    let _ = notify::sd_notify("STOPPING=1");
    server.shutdown().await;
    // Verifiers of logins already answered are written before the exit.
    daemon
        .ctx
        .pam
        .drain_credentials(std::time::Duration::from_secs(5))
        .await;
    if let Some(mc) = &daemon.ctx.memcache {
        mc.retire();
    }
    if let Some(s) = store {
        s.close();
    }
    tracing::info!("rosterd stopped");
    Ok(())
}

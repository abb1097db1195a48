//! Two simulated hosts sharing one directory (issue 13 item 3): each host
//! is a private mount namespace with its own host name (`unshare --uts`),
//! its own `/etc/passwd` and `/etc/group` (different local accounts, and
//! one local account of the same name with different IDs), its own rosterd
//! (configuration, sockets, state; the daemon runs in a namespace of the
//! host, so it reads that host's local accounts) and `files roster` in
//! nsswitch.conf.
//!
//! On host A a tree is made owned by directory users and groups and by the
//! local account (`chown NAME:GROUP`, through A's NSS); it is copied to
//! host B with `rsync -a` over SSH (an sshd on loopback inside B) and with
//! `tar c` in A piped to `tar x --same-owner` in B; then `ls -ln` and
//! `ls -l` of the source (in A) and of both copies (in B) are compared:
//! the same names everywhere, the same IDs for directory accounts, and the
//! local account's own ID on each host (rsync and tar map owners by name).

#![allow(dead_code)]

use roster_e2e::dataset::BASE_DN;
use roster_e2e::namespace::Namespace;
use roster_e2e::ports::free_port;
use roster_e2e::rosterd::{Launch, Rosterd};
use roster_proto::{AdminRequest, FlushTarget, Request, Response};
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The local account both hosts have, with a different ID on each.
pub const SHARED_LOCAL: &str = "sitelocal";

/// Host A's local accounts: (name, ID of the user and of its group).
pub const HOST_A_LOCALS: &[(&str, u32)] = &[(SHARED_LOCAL, 2001), ("hosta-admin", 3001)];
/// Host B's local accounts.
pub const HOST_B_LOCALS: &[(&str, u32)] = &[(SHARED_LOCAL, 2002), ("hostb-admin", 3002)];

/// A second LDAP directory's user (listed in a different order on each
/// host, next to the main domain).
pub const OTHER_USER: (&str, u32) = ("zed", 40001);
/// Its group (memberUid zed).
pub const OTHER_GROUP: (&str, u32) = ("zgroup", 40010);
/// `[domain.idmap]` range of the second directory's domain.
pub const OTHER_RANGE: (u32, u32) = (40000, 49999);

/// The second directory: a base entry, one user and one group, read
/// anonymously.
pub fn other_ldif() -> String {
    let (user, uid) = OTHER_USER;
    let (group, gid) = OTHER_GROUP;
    format!(
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Other\n\n\
         dn: ou=people,{BASE_DN}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{BASE_DN}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: uid={user},ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
         uid: {user}\ncn: Zed\nsn: Zed\nuidNumber: {uid}\ngidNumber: {gid}\n\
         homeDirectory: /home/{user}\nloginShell: /bin/sh\n\n\
         dn: cn={group},ou=groups,{BASE_DN}\nobjectClass: posixGroup\ncn: {group}\n\
         gidNumber: {gid}\nmemberUid: {user}\n\n"
    )
}

/// `/etc/passwd` and `/etc/group` of a host: the machine's own (root,
/// sshd, ...) plus `locals` (each user with a group of the same name and
/// ID).
fn etc_files(locals: &[(&str, u32)]) -> (String, String) {
    let mut passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let mut group = std::fs::read_to_string("/etc/group").expect("read /etc/group");
    for (name, id) in locals {
        let taken = |text: &str, col: usize, v: &str| {
            text.lines().any(|l| l.split(':').nth(col) == Some(v))
        };
        assert!(
            !taken(&passwd, 0, name) && !taken(&passwd, 2, &id.to_string()),
            "local user {name} or uid {id} already exists on this machine"
        );
        assert!(
            !taken(&group, 0, name) && !taken(&group, 2, &id.to_string()),
            "local group {name} or gid {id} already exists on this machine"
        );
        if !passwd.ends_with('\n') {
            passwd.push('\n');
        }
        passwd.push_str(&format!(
            "{name}:x:{id}:{id}:local account:/nonexistent:/bin/sh\n"
        ));
        if !group.ends_with('\n') {
            group.push('\n');
        }
        group.push_str(&format!("{name}:x:{id}:\n"));
    }
    (passwd, group)
}

/// A namespace with a host's name and local accounts.
fn host_namespace(name: &str, etc: &(String, String)) -> Namespace {
    Namespace::new()
        .etc_file("passwd", &etc.0)
        .etc_file("group", &etc.1)
        .hostname(name)
}

/// One simulated host.
pub struct Host {
    /// Its host name.
    pub name: &'static str,
    /// Its local accounts.
    pub locals: &'static [(&'static str, u32)],
    /// Its daemon (running in a namespace of this host).
    pub rd: Rosterd,
    /// Its `/etc/passwd` and `/etc/group`.
    etc: (String, String),
    /// Namespace template of the host's commands (a fresh namespace per run).
    ns: Namespace,
    /// Keeps the daemon's namespace files alive.
    _daemon_ns: Namespace,
}

impl Host {
    /// Starts the host's rosterd on `config` (a `roster.toml` text as
    /// [`Rosterd::start`] takes) inside a namespace with the host's local
    /// accounts.
    pub fn start(name: &'static str, locals: &'static [(&'static str, u32)], config: &str) -> Host {
        let etc = etc_files(locals);
        let daemon_ns = host_namespace(name, &etc);
        let rd = Rosterd::start_with(
            config,
            Launch {
                wrapper: daemon_ns.wrapper(),
                ..Launch::default()
            },
        );
        let ns = host_namespace(name, &etc).socket_dir(&rd.socket_dir());
        Host {
            name,
            locals,
            rd,
            etc,
            ns,
            _daemon_ns: daemon_ns,
        }
    }

    /// The host's namespace (for commands; each run is a fresh one).
    pub fn ns(&self) -> &Namespace {
        &self.ns
    }

    /// A scratch directory of the host (the file system is shared: paths
    /// are only kept apart).
    pub fn scratch(&self) -> &Path {
        self.ns.scratch()
    }

    /// Runs `script` on the host; it must succeed. Returns stdout.
    #[track_caller]
    pub fn run(&self, script: &str) -> String {
        let out = self.ns.run(script);
        assert!(
            out.status.success(),
            "on {}: `{script}` failed with {}:\nstdout: {}\nstderr: {}\nrosterd log:\n{}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.rd.log())
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The local ID of `name`, if it is one of this host's local accounts.
    pub fn local_id(&self, name: &str) -> Option<u32> {
        self.locals
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| *id)
    }

    /// Drops every cached answer of the daemon (memory and `nss.mc`).
    pub fn flush_cache(&self) {
        let req = Request::Admin(AdminRequest::CacheFlush(FlushTarget::All));
        match self.rd.pam(&req) {
            Response::Admin(Ok(_)) => {}
            other => panic!("cache flush on {}: {other:?}", self.name),
        }
    }
}

/// The last lines of a log.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The owner and group every entry of the tree gets, and the IDs
/// directory accounts must have on every host.
pub struct TreeSpec {
    /// (user, group) pairs: names of directory or local accounts.
    pub owners: Vec<(String, String)>,
    /// Directory users' expected UIDs.
    pub uids: BTreeMap<String, u32>,
    /// Directory groups' expected GIDs.
    pub gids: BTreeMap<String, u32>,
}

/// One `ls -l` line: (mode, owner, group) by path.
type Listing = BTreeMap<String, (String, String, String)>;

/// The tree under `root/tree`: the top directory owned by the first
/// pair; per pair `i`, a file `file<i>` (0640) and a directory `dir<i>`
/// (2750) holding a file `data` and a symlink `link` to it, all owned by
/// that pair (the symlink with `chown -h`).
fn make_tree_script(root: &Path, spec: &TreeSpec) -> String {
    let t = root.join("tree");
    let t = t.display();
    let mut s = format!("set -e\nmkdir -p {t}\ncd {t}\n");
    for (i, (u, g)) in spec.owners.iter().enumerate() {
        s += &format!(
            "echo {i} > file{i}\nchown {u}:{g} file{i}\nchmod 0640 file{i}\n\
             mkdir dir{i}\necho data{i} > dir{i}/data\nln -s data dir{i}/link\n\
             chown -h {u}:{g} dir{i} dir{i}/data dir{i}/link\nchmod 2750 dir{i}\n"
        );
    }
    let (u, g) = &spec.owners[0];
    s += &format!("chown {u}:{g} {t}\n");
    s
}

/// The entries `make_tree_script` makes, with their owner pair.
fn tree_entries(spec: &TreeSpec) -> BTreeMap<String, (String, String)> {
    let mut m = BTreeMap::new();
    m.insert("./tree".to_string(), spec.owners[0].clone());
    for (i, pair) in spec.owners.iter().enumerate() {
        for p in [
            format!("./tree/file{i}"),
            format!("./tree/dir{i}"),
            format!("./tree/dir{i}/data"),
            format!("./tree/dir{i}/link"),
        ] {
            m.insert(p, pair.clone());
        }
    }
    m
}

/// Parses `ls -lR --time-style=+%s .` output into a [`Listing`].
fn parse_ls(text: &str) -> Listing {
    let mut out = Listing::new();
    let mut dir = ".".to_string();
    for line in text.lines() {
        if let Some(d) = line.strip_suffix(':') {
            dir = d.to_string();
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 7 || f[0] == "total" {
            continue;
        }
        // mode links owner group size mtime name [-> target]
        out.insert(
            format!("{dir}/{}", f[6]),
            (f[0].to_string(), f[2].to_string(), f[3].to_string()),
        );
    }
    out
}

/// `ls -l` and `ls -ln` of everything under `root` (paths `./tree/...`),
/// run on `host`.
fn listings(host: &Host, root: &Path) -> (Listing, Listing) {
    let r = root.display();
    let names = host.run(&format!("cd {r} && ls -lR --time-style=+%s ."));
    let ids = host.run(&format!("cd {r} && ls -lnR --time-style=+%s ."));
    (parse_ls(&names), parse_ls(&ids))
}

/// The ID a name must have on `host`: its local ID there, else the
/// directory's.
fn expected_id(host: &Host, name: &str, directory: &BTreeMap<String, u32>) -> String {
    host.local_id(name)
        .or_else(|| directory.get(name).copied())
        .unwrap_or_else(|| panic!("{name} is neither local on {} nor expected", host.name))
        .to_string()
}

/// Checks the listings of a tree on `host` against the spec: owner and
/// group names, and the IDs that `host` must show for them.
fn check_listings(host: &Host, what: &str, spec: &TreeSpec, names: &Listing, ids: &Listing) {
    let entries = tree_entries(spec);
    let paths: Vec<&String> = names.keys().collect();
    assert_eq!(
        paths,
        entries.keys().collect::<Vec<_>>(),
        "{what}: the entries of the tree"
    );
    for (path, (u, g)) in &entries {
        let (mode, owner, group) = &names[path];
        assert_eq!(
            (owner, group),
            (u, g),
            "{what}: `ls -l` owner and group of {path} on {}\nrosterd log:\n{}",
            host.name,
            tail(&host.rd.log())
        );
        let (nmode, uid, gid) = &ids[path];
        assert_eq!(mode, nmode, "{what}: {path}");
        assert_eq!(
            (uid, gid),
            (
                &expected_id(host, u, &spec.uids),
                &expected_id(host, g, &spec.gids)
            ),
            "{what}: `ls -ln` IDs of {path} ({u}:{g}) on {}",
            host.name
        );
    }
}

/// Stops the namespaced sshd by PID when the test ends; then its
/// namespace's files (host key, authorised key, log) go.
struct Sshd(Child, Namespace);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// PAM service of B's sshd: root logs in by key only (no password step),
/// no session modules that need a real login.
const SSHD_PAM: &str = "auth required pam_deny.so\naccount required pam_permit.so\n\
session required pam_permit.so\npassword required pam_deny.so\n";

/// Starts an sshd on a loopback port inside a namespace of `host` that
/// lets root in with the key `pubkey`; returns it and its port.
fn start_sshd(host: &Host, pubkey: &Path) -> (Sshd, u16, PathBuf) {
    let port = free_port();
    let ns = host_namespace(host.name, &host.etc)
        .socket_dir(&host.rd.socket_dir())
        .pam_service("sshd", SSHD_PAM);
    let s = ns.scratch().to_path_buf();
    let sd = s.display();
    std::fs::copy(pubkey, s.join("authorized_keys")).expect("authorized_keys");
    let script = format!(
        r#"ssh-keygen -q -t ed25519 -N '' -f {sd}/hostkey
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e -f /dev/null -p {port} -o ListenAddress=127.0.0.1 -h {sd}/hostkey \
  -o UsePAM=yes -o PermitRootLogin=prohibit-password -o PubkeyAuthentication=yes \
  -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o StrictModes=no \
  -o AuthorizedKeysFile={sd}/authorized_keys -o PidFile={sd}/sshd.pid 2> {sd}/sshd.log
"#
    );
    let child = ns.spawn(&script);
    let sshd = Sshd(child, ns);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "sshd on {} did not start:\n{}",
            host.name,
            std::fs::read_to_string(s.join("sshd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (sshd, port, s)
}

/// The ssh command line (for rsync's `-e`) that reaches B's sshd as root.
fn ssh_command(port: u16, key: &Path) -> String {
    format!(
        "ssh -F /dev/null -p {port} -i {} -o IdentitiesOnly=yes -o BatchMode=yes \
         -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 \
         -o LogLevel=ERROR",
        key.display()
    )
}

/// Copies `src/` on `a` to `dst/` on `b` with `tar c | tar x --same-owner`.
fn tar_copy(a: &Host, b: &Host, src: &Path, dst: &Path) {
    let mut reader = a
        .ns()
        .command(&format!("exec tar -C {} -cf - .", src.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tar c");
    let pipe = reader.stdout.take().expect("tar c stdout");
    let writer = b
        .ns()
        .command(&format!(
            "mkdir -p {d} && exec tar -C {d} --same-owner -xpf -",
            d = dst.display()
        ))
        .stdin(Stdio::from(pipe))
        .output()
        .expect("run tar x");
    let read = reader.wait_with_output().expect("wait for tar c");
    assert!(
        read.status.success() && writer.status.success(),
        "tar c on {} ({}): {}\ntar x on {} ({}): {}",
        a.name,
        read.status,
        String::from_utf8_lossy(&read.stderr),
        b.name,
        writer.status,
        String::from_utf8_lossy(&writer.stderr)
    );
}

/// The whole two-host run: make the tree on `a`, check it, copy it to
/// `b` with rsync over SSH (B cold: nothing asked of its daemon before)
/// and with tar through a pipe (B's cache flushed first), and check both
/// copies against the source.
pub fn copy_and_compare(a: &Host, b: &Host, spec: &TreeSpec) {
    let src = a.scratch().join("src");
    a.run(&make_tree_script(&src, spec));
    let (src_names, src_ids) = listings(a, &src);
    check_listings(a, "source on A", spec, &src_names, &src_ids);

    // A key for A's root, authorised by B's sshd.
    let key = a.scratch().join("id_ed25519");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("run ssh-keygen");
    assert!(st.success(), "ssh-keygen");
    let (sshd, port, sshd_dir) = start_sshd(b, &key.with_extension("pub"));
    let ssh = ssh_command(port, &key);
    let sshd_log = || std::fs::read_to_string(sshd_dir.join("sshd.log")).unwrap_or_default();

    // The SSH session lands on host B.
    let remote = a.run(&format!("hostname; {ssh} root@127.0.0.1 hostname"));
    assert_eq!(
        remote.lines().collect::<Vec<_>>(),
        [a.name, b.name],
        "{}",
        sshd_log()
    );

    let rsync_dst = b.scratch().join("rsync");
    let out = a.ns().run(&format!(
        "rsync -a -e '{ssh}' {}/ root@127.0.0.1:{}/",
        src.display(),
        rsync_dst.display()
    ));
    assert!(
        out.status.success(),
        "rsync from {} to {}: {}\n{}\nsshd: {}\nrosterd on B:\n{}",
        a.name,
        b.name,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        sshd_log(),
        tail(&b.rd.log())
    );
    drop(sshd);
    let (names, ids) = listings(b, &rsync_dst);
    check_listings(b, "rsync copy on B", spec, &names, &ids);
    assert_eq!(
        names, src_names,
        "`ls -l` of the rsync copy on B vs the source on A"
    );

    b.flush_cache();
    let tar_dst = b.scratch().join("tar");
    tar_copy(a, b, &src, &tar_dst);
    let (tnames, tids) = listings(b, &tar_dst);
    check_listings(b, "tar copy on B", spec, &tnames, &tids);
    assert_eq!(
        tnames, src_names,
        "`ls -l` of the tar copy on B vs the source on A"
    );
    assert_eq!(tids, ids, "`ls -ln` of the tar and rsync copies on B");

    // `ls -ln`: directory accounts keep their IDs; the local account's
    // entries differ by exactly its two local IDs.
    let (la, lb) = (
        a.local_id(SHARED_LOCAL).expect("A has it").to_string(),
        b.local_id(SHARED_LOCAL).expect("B has it").to_string(),
    );
    for (path, (mode, uid, gid)) in &src_ids {
        let swap = |id: &String| if *id == la { lb.clone() } else { id.clone() };
        assert_eq!(
            ids[path],
            (mode.clone(), swap(uid), swap(gid)),
            "`ls -ln` of {path}: source on A vs copies on B"
        );
    }
}

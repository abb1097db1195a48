//! NFSv4 ID mapping through libnfsidmap, the library rpc.idmapd, nfsidmap
//! and the kernel's keyring upcall use: a small C harness linked with
//! `-lnfsidmap` (Debian `libnfsidmap-dev`) that answers one query per
//! input line, and the idmapd.conf it reads.
//!
//! Queries (one per line on stdin, answered in order on stdout):
//!
//! | query | libnfsidmap call | answer |
//! |---|---|---|
//! | `n2u NAME` | `nfs4_name_to_uid` | `UID` or `err -ERRNO` |
//! | `n2g NAME` | `nfs4_name_to_gid` | `GID` or `err -ERRNO` |
//! | `u2n UID` | `nfs4_uid_to_name` | `user@domain` or `err -ERRNO` |
//! | `g2n GID` | `nfs4_gid_to_name` | `group@domain` or `err -ERRNO` |
//! | `o2u NAME` | `nfs4_owner_to_uid` | `UID` (nobody when unknown) |
//! | `o2g NAME` | `nfs4_group_owner_to_gid` | `GID` (nobody when unknown) |
//! | `u2o UID` | `nfs4_uid_to_owner` | `user@domain`, or the number |
//! | `p2i PRINCIPAL` | `nfs4_gss_princ_to_ids("krb5", …)` | `UID GID` or `err -ERRNO` |
//! | `p2g PRINCIPAL` | `nfs4_gss_princ_to_grouplist("krb5", …)` | sorted GIDs or `err -ERRNO` |
//! | `domain -` | `nfs4_get_default_domain` | the NFSv4 domain |

use crate::namespace::Namespace;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The harness's source.
pub const HARNESS_C: &str = r#"
#include <stddef.h>
#include <sys/types.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nfsidmap.h>

static void log_stderr(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int cmp_gid(const void *a, const void *b) {
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: nfsmap IDMAPD.CONF < queries\n");
        return 2;
    }
    const char *v = getenv("NFSMAP_VERBOSE");
    if (v) nfs4_set_debug(atoi(v), log_stderr);
    int rc = nfs4_init_name_mapping(argv[1]);
    if (rc) {
        fprintf(stderr, "nfs4_init_name_mapping(%s): %d\n", argv[1], rc);
        return 1;
    }
    char line[1024];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        char *arg = strchr(line, ' ');
        if (!arg) { printf("bad query\n"); continue; }
        *arg++ = '\0';
        char name[1024];
        uid_t uid;
        gid_t gid;
        if (strcmp(line, "n2u") == 0) {
            rc = nfs4_name_to_uid(arg, &uid);
            if (rc) printf("err %d\n", rc); else printf("%u\n", (unsigned)uid);
        } else if (strcmp(line, "n2g") == 0) {
            rc = nfs4_name_to_gid(arg, &gid);
            if (rc) printf("err %d\n", rc); else printf("%u\n", (unsigned)gid);
        } else if (strcmp(line, "o2u") == 0) {
            rc = nfs4_owner_to_uid(arg, &uid);
            if (rc) printf("err %d\n", rc); else printf("%u\n", (unsigned)uid);
        } else if (strcmp(line, "o2g") == 0) {
            rc = nfs4_group_owner_to_gid(arg, &gid);
            if (rc) printf("err %d\n", rc); else printf("%u\n", (unsigned)gid);
        } else if (strcmp(line, "u2n") == 0) {
            rc = nfs4_uid_to_name((uid_t)strtoul(arg, NULL, 10), NULL, name, sizeof name);
            if (rc) printf("err %d\n", rc); else printf("%s\n", name);
        } else if (strcmp(line, "g2n") == 0) {
            rc = nfs4_gid_to_name((gid_t)strtoul(arg, NULL, 10), NULL, name, sizeof name);
            if (rc) printf("err %d\n", rc); else printf("%s\n", name);
        } else if (strcmp(line, "u2o") == 0) {
            rc = nfs4_uid_to_owner((uid_t)strtoul(arg, NULL, 10), NULL, name, sizeof name);
            if (rc) printf("err %d\n", rc); else printf("%s\n", name);
        } else if (strcmp(line, "p2i") == 0) {
            rc = nfs4_gss_princ_to_ids("krb5", arg, &uid, &gid);
            if (rc) printf("err %d\n", rc); else printf("%u %u\n", (unsigned)uid, (unsigned)gid);
        } else if (strcmp(line, "p2g") == 0) {
            gid_t groups[4096];
            int n = 4096;
            rc = nfs4_gss_princ_to_grouplist("krb5", arg, groups, &n);
            if (rc) { printf("err %d\n", rc); continue; }
            qsort(groups, n, sizeof groups[0], cmp_gid);
            for (int i = 0; i < n; i++) printf(i ? " %u" : "%u", (unsigned)groups[i]);
            printf("\n");
        } else if (strcmp(line, "domain") == 0) {
            rc = nfs4_get_default_domain(NULL, name, sizeof name);
            if (rc) printf("err %d\n", rc); else printf("%s\n", name);
        } else {
            printf("bad query\n");
        }
        fflush(stdout);
    }
    return 0;
}
"#;

/// Compiles [`HARNESS_C`] into `dir` and returns the binary's path.
pub fn build(dir: &Path) -> PathBuf {
    crate::cc::compile(dir, "nfsmap", HARNESS_C, &["-lnfsidmap"])
}

/// What the test's idmapd.conf says.
pub struct IdmapdConf<'a> {
    /// `[General] Domain`: the NFSv4 domain.
    pub domain: &'a str,
    /// `[General] Local-Realms`: Kerberos realms whose principals are local.
    pub local_realms: &'a [&'a str],
    /// `[General] No-Strip` (`none`, `user`, `group`, `both`).
    pub no_strip: &'a str,
    /// `[Mapping] Nobody-User`.
    pub nobody_user: &'a str,
    /// `[Mapping] Nobody-Group`.
    pub nobody_group: &'a str,
}

impl IdmapdConf<'_> {
    /// The file's text (`Method = nsswitch`).
    pub fn text(&self) -> String {
        format!(
            "[General]\nVerbosity = 0\nDomain = {}\nLocal-Realms = {}\nNo-Strip = {}\n\n\
             [Mapping]\nNobody-User = {}\nNobody-Group = {}\n\n\
             [Translation]\nMethod = nsswitch\n",
            self.domain,
            self.local_realms.join(","),
            self.no_strip,
            self.nobody_user,
            self.nobody_group
        )
    }

    /// Writes `dir/idmapd.conf` and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("idmapd.conf");
        std::fs::write(&path, self.text()).expect("write idmapd.conf");
        path
    }
}

/// A list of queries with the answer each must get.
#[derive(Default)]
pub struct Expect {
    items: Vec<(String, String)>,
}

impl Expect {
    /// Query `op arg` must be answered `answer`.
    pub fn add(&mut self, op: &str, arg: impl std::fmt::Display, answer: impl Into<String>) {
        self.items.push((format!("{op} {arg}"), answer.into()));
    }

    /// How many queries there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there is no query.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Runs every query through `harness` with `conf` inside `ns` and panics
    /// listing the wrong answers (the first 30).
    pub fn check(&self, ns: &Namespace, harness: &Path, conf: &Path) {
        let input = ns.scratch().join("nfsmap.queries");
        let mut text = String::new();
        for (q, _) in &self.items {
            let _ = writeln!(text, "{q}");
        }
        std::fs::write(&input, text).expect("write queries");
        let out = ns.run(&format!(
            "{} {} < {}",
            harness.display(),
            conf.display(),
            input.display()
        ));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "nfsmap failed ({}): {}\n{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let answers: Vec<&str> = stdout.lines().collect();
        assert_eq!(answers.len(), self.items.len(), "one answer per query");
        let wrong: Vec<String> = self
            .items
            .iter()
            .zip(&answers)
            .filter(|((_, want), got)| want != *got)
            .map(|((q, want), got)| format!("{q}: got {got:?}, want {want:?}"))
            .collect();
        assert!(
            wrong.is_empty(),
            "{} of {} libnfsidmap answers are wrong:\n{}",
            wrong.len(),
            self.items.len(),
            wrong[..wrong.len().min(30)].join("\n")
        );
    }
}

//! Shared set-up of the NSS end-to-end tests: slapd + rosterd, a namespace
//! whose nsswitch.conf says `files roster`, and a small C program that calls
//! the reentrant lookup functions the way real programs do.

#![allow(dead_code)]

use roster_e2e::config::{domain_table, DomainOptions};
use roster_e2e::namespace::Namespace;
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A directory and a daemon serving it.
pub struct Env {
    /// The LDAP server with the sample directory.
    pub slapd: Slapd,
    /// The daemon under test.
    pub rd: Rosterd,
    /// Scratch space owned by the test.
    pub dir: tempfile::TempDir,
}

impl Env {
    /// slapd + rosterd; `extra` is appended to the configuration (e.g. an
    /// `[nss]` or `[cache]` table).
    pub fn start(extra: &str) -> Env {
        let slapd = Slapd::start();
        let dir = tempfile::Builder::new()
            .prefix("roster-nss-e2e-")
            .tempdir()
            .expect("temp dir");
        let text = format!(
            "{}\n{extra}\n",
            domain_table(&slapd, dir.path(), &DomainOptions::default())
        );
        let rd = Rosterd::start(&text);
        Env { slapd, rd, dir }
    }

    /// A namespace with `files roster` and this daemon's sockets on
    /// /run/roster.
    pub fn ns(&self) -> Namespace {
        Namespace::new().socket_dir(&self.rd.socket_dir())
    }
}

/// An `[nss]` table for tests whose first lookups are large (a cold
/// `getent group biggroup`: 5,000 members, each checked against the local
/// accounts, by a debug build): the module's 3 s default bounds a login's
/// wait, not a correctness test's, which a loaded machine would otherwise
/// turn into a timing assertion.
pub const PATIENT_NSS: &str = "[nss]\ntimeout_ms = 30000\n";

/// stdout of a successful run, for assertions.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exit code of a run (-1 when killed by a signal).
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Runs `script` in `ns`, asserting success, and returns stdout.
pub fn ok(ns: &Namespace, script: &str) -> String {
    ns.run_ok(script)
}

/// The C probe: `threads USER UID GROUP GID NTHREADS ITER`, `fork USER UID`,
/// `erange USER GROUP`; prints `ok` and exits 0 when every answer is right.
pub const PROBE_C: &str = r#"
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *user, *group;
static uid_t uid;
static gid_t gid;
static int iters;

static int check_user(void) {
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwnam_r(user, &pw, buf, sizeof buf, &res) != 0 || !res || res->pw_uid != uid ||
        strcmp(res->pw_name, user) != 0)
        return 1;
    res = NULL;
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || !res || strcmp(res->pw_name, user) != 0)
        return 1;
    return 0;
}

static int check_group(void) {
    struct group gr, *res = NULL;
    static __thread char buf[1 << 17];
    if (getgrnam_r(group, &gr, buf, sizeof buf, &res) != 0 || !res || res->gr_gid != gid)
        return 1;
    res = NULL;
    if (getgrgid_r(gid, &gr, buf, sizeof buf, &res) != 0 || !res || strcmp(res->gr_name, group) != 0)
        return 1;
    return 0;
}

static void *worker(void *arg) {
    (void)arg;
    long bad = 0;
    for (int i = 0; i < iters; i++) bad += check_user() + check_group();
    return (void *)bad;
}

int main(int argc, char **argv) {
    if (argc >= 8 && strcmp(argv[1], "threads") == 0) {
        user = argv[2]; uid = (uid_t)atol(argv[3]); group = argv[4]; gid = (gid_t)atol(argv[5]);
        int n = atoi(argv[6]); iters = atoi(argv[7]);
        pthread_t t[64];
        if (n > 64) n = 64;
        for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, worker, NULL);
        long bad = 0;
        for (int i = 0; i < n; i++) { void *r; pthread_join(t[i], &r); bad += (long)r; }
        if (bad) { printf("%ld wrong answers\n", bad); return 1; }
        printf("ok %d threads x %d\n", n, iters);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "fork") == 0) {
        user = argv[2]; uid = (uid_t)atol(argv[3]);
        if (check_user()) { printf("parent lookup failed\n"); return 1; }
        for (int c = 0; c < 8; c++) {
            pid_t p = fork();
            if (p == 0) {
                int bad = 0;
                for (int i = 0; i < 20; i++) bad += check_user();
                _exit(bad ? 1 : 0);
            }
            int st;
            if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                printf("child %d failed\n", c);
                return 1;
            }
            if (check_user()) { printf("parent lookup after child %d failed\n", c); return 1; }
        }
        printf("ok\n");
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "erange") == 0) {
        user = argv[2]; group = argv[3];
        struct passwd pw, *pres;
        struct group gr, *gres;
        int saw_erange = 0, done = 0;
        for (size_t len = 1; len < 1024 && !done; len++) {
            char *buf = malloc(len);
            pres = (struct passwd *)1;
            int rc = getpwnam_r(user, &pw, buf, len, &pres);
            if (rc == ERANGE) {
                saw_erange = 1;
                if (pres != NULL) { printf("result set with ERANGE\n"); return 1; }
            } else if (rc == 0 && pres && strcmp(pres->pw_name, user) == 0) {
                printf("passwd fits in %zu bytes\n", len);
                done = 1;
            } else {
                printf("getpwnam_r with %zu bytes: rc %d\n", len, rc);
                return 1;
            }
            free(buf);
        }
        if (!saw_erange || !done) { printf("passwd: erange %d done %d\n", saw_erange, done); return 1; }
        saw_erange = 0;
        done = 0;
        for (size_t len = 1; len <= (1 << 20) && !done; len *= 2) {
            char *buf = malloc(len);
            gres = (struct group *)1;
            int rc = getgrnam_r(group, &gr, buf, len, &gres);
            if (rc == ERANGE) {
                saw_erange = 1;
                if (gres != NULL) { printf("group result set with ERANGE\n"); return 1; }
            } else if (rc == 0 && gres && strcmp(gres->gr_name, group) == 0) {
                int n = 0;
                while (gres->gr_mem[n]) n++;
                printf("group fits in %zu bytes with %d members\n", len, n);
                done = 1;
            } else {
                printf("getgrnam_r with %zu bytes: rc %d\n", len, rc);
                return 1;
            }
            free(buf);
        }
        if (!saw_erange || !done) { printf("group: erange %d done %d\n", saw_erange, done); return 1; }
        printf("ok\n");
        return 0;
    }
    fprintf(stderr, "usage: probe threads|fork|erange ...\n");
    return 2;
}
"#;

/// Compiles [`PROBE_C`] into `dir` and returns the binary's path.
pub fn build_probe(dir: &Path) -> PathBuf {
    roster_e2e::cc::compile(dir, "probe", PROBE_C, &["-pthread"])
}

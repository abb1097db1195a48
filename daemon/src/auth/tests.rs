//! The PAM decisions against a fake directory.

use super::backend::*;
use super::credentials::{CredentialStore, OfflineRules};
use super::service::PamAuth;
use super::settings::{AuthSettings, DomainAuth};
use crate::backend_error::BackendError;
use crate::clock::ManualClock;
use crate::directory::DirectoryError;
use crate::resolver::{Answer, Source};
use roster_proto::{PamCode, Secret};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const DAY: u64 = 86_400;
const NOW: u64 = 20_000 * DAY;

#[derive(Default)]
struct Fake {
    offline: AtomicBool,
    insecure: AtomicBool,
    passwords: Mutex<HashMap<String, String>>,
    account: Mutex<AccountInfo>,
    filter_matches: AtomicBool,
    binds: AtomicUsize,
    gids: Mutex<HashMap<String, Vec<u32>>>,
    bind_override: Mutex<Option<BindResult>>,
    shadowed: Mutex<Option<String>>,
    /// The directory's error while `offline` (a refused connection unless set).
    error: Mutex<Option<DirectoryError>>,
}

impl Fake {
    /// What the directory answers while `offline`, as the backend passes it on.
    fn failure(&self) -> BackendError {
        self.error
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| DirectoryError::unavailable("connection refused"))
            .into()
    }
}

fn alice() -> AuthUser {
    AuthUser {
        name: "alice".into(),
        uid: 10001,
        dn: "uid=alice,ou=people,dc=example,dc=test".into(),
        domain: "example".into(),
    }
}

impl AuthBackend for Fake {
    fn find_user<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Answer<AuthUser>> {
        Box::pin(async move {
            match name {
                "alice" | "alice@example" => Answer::Found(alice(), Source::Directory),
                // Another domain's account of the same name.
                "alice@other" => Answer::Found(
                    AuthUser {
                        name: "alice".into(),
                        uid: 20001,
                        dn: "uid=alice,dc=other,dc=test".into(),
                        domain: "other".into(),
                    },
                    Source::Directory,
                ),
                _ => Answer::NotFound,
            }
        })
    }
    fn user_gids<'a>(&'a self, user: &'a AuthUser) -> BoxFuture<'a, Answer<Vec<u32>>> {
        Box::pin(async move {
            let key = format!("{}@{}", user.name, user.domain);
            match self.gids.lock().unwrap().get(&key) {
                Some(g) => Answer::Found(g.clone(), Source::Directory),
                None => Answer::NotFound,
            }
        })
    }
    fn group_gid<'a>(&'a self, domain: &'a str, name: &'a str) -> BoxFuture<'a, Answer<u32>> {
        Box::pin(async move {
            match (domain, name) {
                ("example", "staff") => Answer::Found(10010, Source::Directory),
                ("example", "admins") => Answer::Found(10020, Source::Directory),
                ("other", "staff") => Answer::Found(20010, Source::Directory),
                ("other", "ops") => Answer::Found(20000, Source::Directory),
                _ => Answer::NotFound,
            }
        })
    }
    fn shadowed_by_local(&self, _user: &AuthUser) -> Option<String> {
        self.shadowed.lock().unwrap().clone()
    }
    fn verify_password<'a>(
        &'a self,
        user: &'a AuthUser,
        password: &'a Secret,
    ) -> BoxFuture<'a, Result<BindResult, BackendError>> {
        Box::pin(async move {
            if self.offline.load(Ordering::SeqCst) {
                return Err(self.failure());
            }
            if self.insecure.load(Ordering::SeqCst) {
                return Ok(BindResult::Insecure);
            }
            self.binds.fetch_add(1, Ordering::SeqCst);
            let ok = self
                .passwords
                .lock()
                .unwrap()
                .get(&user.name)
                .map(|p| p.as_bytes())
                == Some(password.expose());
            if let Some(r) = self.bind_override.lock().unwrap().clone() {
                return Ok(r);
            }
            Ok(if ok {
                BindResult::Accepted(None)
            } else {
                BindResult::InvalidCredentials
            })
        })
    }
    fn account_info<'a>(
        &'a self,
        _user: &'a AuthUser,
        access_filter: Option<&'a str>,
    ) -> BoxFuture<'a, Result<AccountInfo, BackendError>> {
        Box::pin(async move {
            if self.offline.load(Ordering::SeqCst) {
                return Err(self.failure());
            }
            let mut info = self.account.lock().unwrap().clone();
            info.filter_matches = access_filter.map(|_| self.filter_matches.load(Ordering::SeqCst));
            Ok(info)
        })
    }
    fn change_password<'a>(
        &'a self,
        user: &'a AuthUser,
        old: &'a Secret,
        new: &'a Secret,
    ) -> BoxFuture<'a, Result<ChangeResult, BackendError>> {
        Box::pin(async move {
            if self.offline.load(Ordering::SeqCst) {
                return Err(self.failure());
            }
            let mut pws = self.passwords.lock().unwrap();
            let cur = pws.get(&user.name).cloned().unwrap_or_default();
            if cur.as_bytes() != old.expose() {
                return Ok(ChangeResult::WrongOldPassword);
            }
            if new.expose().len() < 4 {
                return Ok(ChangeResult::Refused(
                    "Password fails quality checking policy".into(),
                ));
            }
            pws.insert(
                user.name.clone(),
                String::from_utf8(new.expose().to_vec()).unwrap(),
            );
            Ok(ChangeResult::Changed)
        })
    }
}

struct Setup {
    fake: Arc<Fake>,
    clock: Arc<ManualClock>,
    auth: PamAuth,
    creds: Arc<CredentialStore>,
}

fn setup(dom: DomainAuth) -> Setup {
    let fake = Arc::new(Fake::default());
    fake.passwords
        .lock()
        .unwrap()
        .insert("alice".into(), "alice-pw".into());
    fake.gids
        .lock()
        .unwrap()
        .insert("alice@example".into(), vec![10000, 10010]);
    fake.gids
        .lock()
        .unwrap()
        .insert("alice@other".into(), vec![20000]);
    let mut settings = AuthSettings::default();
    settings.domains.insert("example".into(), dom);
    let clock = Arc::new(ManualClock::new(NOW * 1000));
    let creds = Arc::new(CredentialStore::in_memory());
    let auth = PamAuth::with_clock(fake.clone(), settings, creds.clone(), clock.clone());
    Setup {
        fake,
        clock,
        auth,
        creds,
    }
}

fn caching() -> DomainAuth {
    DomainAuth {
        cache_credentials: true,
        offline: OfflineRules {
            max_age_secs: 7 * DAY,
            attempts: 3,
            delay_secs: 300,
        },
        ..Default::default()
    }
}

async fn acct(s: &Setup) -> PamCode {
    s.auth.account("alice", "sshd", "10.0.0.1").await.code
}

async fn auth(s: &Setup, user: &str, pw: &str) -> PamCode {
    s.auth
        .authenticate(user, "sshd", "", &Secret::from(pw))
        .await
        .code
}

#[tokio::test]
async fn right_wrong_empty_and_unknown() {
    let s = setup(DomainAuth::default());
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
    assert_eq!(auth(&s, "alice", "nope").await, PamCode::AuthErr);
    assert_eq!(auth(&s, "nobody", "x").await, PamCode::UserUnknown);
    let binds = s.fake.binds.load(Ordering::SeqCst);
    assert_eq!(auth(&s, "alice", "").await, PamCode::AuthErr);
    assert_eq!(
        s.fake.binds.load(Ordering::SeqCst),
        binds,
        "empty password reached a bind"
    );
}

#[tokio::test]
async fn insecure_transport_is_refused() {
    let s = setup(DomainAuth::default());
    s.fake.insecure.store(true, Ordering::SeqCst);
    assert_eq!(
        auth(&s, "alice", "alice-pw").await,
        PamCode::AuthInfoUnavail
    );
}

#[tokio::test]
async fn offline_without_cache_credentials_is_unavailable() {
    let s = setup(DomainAuth::default());
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(
        auth(&s, "alice", "alice-pw").await,
        PamCode::AuthInfoUnavail
    );
}

#[tokio::test]
async fn offline_login_with_cached_credential_and_lockout() {
    let s = setup(caching());
    s.fake.offline.store(true, Ordering::SeqCst);
    // Nothing cached yet.
    assert_eq!(
        auth(&s, "alice", "alice-pw").await,
        PamCode::AuthInfoUnavail
    );
    s.fake.offline.store(false, Ordering::SeqCst);
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
    for _ in 0..3 {
        assert_eq!(auth(&s, "alice", "wrong").await, PamCode::AuthErr);
    }
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::MaxTries);
    s.clock.advance(301 * 1000);
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
    // Older than offline_max_age.
    s.clock.advance(8 * DAY * 1000);
    assert_eq!(
        auth(&s, "alice", "alice-pw").await,
        PamCode::AuthInfoUnavail
    );
}

#[tokio::test]
async fn an_online_invalid_credentials_deletes_the_cached_password() {
    let s = setup(caching());
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
    // Reset in the directory; the old password is refused online once.
    s.fake
        .passwords
        .lock()
        .unwrap()
        .insert("alice".into(), "reset-pw".into());
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::AuthErr);
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(
        auth(&s, "alice", "alice-pw").await,
        PamCode::AuthInfoUnavail,
        "the old password must not work offline after the directory refused it"
    );
    assert_eq!(
        auth(&s, "alice", "reset-pw").await,
        PamCode::AuthInfoUnavail
    );
    // The next online login caches the new password.
    s.fake.offline.store(false, Ordering::SeqCst);
    assert_eq!(auth(&s, "alice", "reset-pw").await, PamCode::Success);
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(auth(&s, "alice", "reset-pw").await, PamCode::Success);
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::AuthErr);
}

#[tokio::test]
async fn a_stored_hash_of_the_old_default_cost_still_verifies() {
    use super::hasher::{HashCost, Scratch, LEGACY_COST};
    let s = setup(caching());
    let legacy = Scratch::new()
        .hash(&Secret::from("alice-pw"), LEGACY_COST)
        .unwrap();
    s.creds.store_hash("example/alice", legacy, NOW).unwrap();
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
    // A cost above the accepted one is ignored (no credential), not
    // computed.
    let huge = Scratch::new()
        .hash(
            &Secret::from("alice-pw"),
            HashCost {
                memory_kib: 1024,
                iterations: 40,
            },
        )
        .unwrap();
    s.creds.store_hash("example/alice", huge, NOW).unwrap();
    assert_eq!(
        auth(&s, "alice", "alice-pw").await,
        PamCode::AuthInfoUnavail
    );
}

#[tokio::test]
async fn account_policy() {
    let s = setup(DomainAuth::default());
    assert_eq!(acct(&s).await, PamCode::Success);
    s.fake.account.lock().unwrap().shadow_expire = Some(19_000);
    let reply = s.auth.account("alice", "sshd", "").await;
    assert_eq!(reply.code, PamCode::AcctExpired);
    assert!(reply.message.contains("expired"), "{}", reply.message);
    *s.fake.account.lock().unwrap() = AccountInfo {
        locked: true,
        ..Default::default()
    };
    assert_eq!(acct(&s).await, PamCode::PermDenied);
    *s.fake.account.lock().unwrap() = AccountInfo {
        pwd_reset: true,
        ..Default::default()
    };
    assert_eq!(acct(&s).await, PamCode::NewAuthtokReqd);
    assert_eq!(
        s.auth.account("nobody", "sshd", "").await.code,
        PamCode::UserUnknown
    );
}

#[tokio::test]
async fn allow_groups_use_the_groups_of_the_resolved_accounts_domain() {
    // example's alice is in example's staff; other's alice is not in
    // other's staff: each account is judged by its own domain's groups.
    let s = setup(DomainAuth {
        allow_groups: vec!["staff".into()],
        ..Default::default()
    });
    let other = |groups: &[&str]| DomainAuth {
        allow_groups: groups.iter().map(|g| g.to_string()).collect(),
        ..Default::default()
    };
    let mut settings = AuthSettings::default();
    settings.domains.insert(
        "example".into(),
        DomainAuth {
            allow_groups: vec!["staff".into()],
            ..Default::default()
        },
    );
    settings.domains.insert("other".into(), other(&["staff"]));
    s.auth.reconfigure(settings.clone());
    let code = |user: &'static str| {
        let a = &s.auth;
        async move { a.account(user, "sshd", "").await.code }
    };
    assert_eq!(code("alice").await, PamCode::Success);
    assert_eq!(code("alice@example").await, PamCode::Success);
    assert_eq!(code("alice@other").await, PamCode::PermDenied);
    settings.domains.insert("other".into(), other(&["ops"]));
    s.auth.reconfigure(settings);
    assert_eq!(code("alice@other").await, PamCode::Success);
}

#[tokio::test]
async fn users_shadowed_by_local_accounts_are_refused() {
    let s = setup(DomainAuth::default());
    *s.fake.shadowed.lock().unwrap() = Some("name \"alice\" is a local user".into());
    let binds = s.fake.binds.load(Ordering::SeqCst);
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::UserUnknown);
    assert_eq!(acct(&s).await, PamCode::UserUnknown);
    assert_eq!(
        s.fake.binds.load(Ordering::SeqCst),
        binds,
        "a shadowed user's password reached a bind"
    );
    *s.fake.shadowed.lock().unwrap() = None;
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
}

#[tokio::test]
async fn allow_groups_and_access_filter() {
    let s = setup(DomainAuth {
        allow_groups: vec!["admins".into()],
        ..Default::default()
    });
    assert_eq!(
        s.auth.account("alice", "sshd", "").await.code,
        PamCode::PermDenied
    );
    let s = setup(DomainAuth {
        allow_groups: vec!["nosuch".into(), "staff".into()],
        ..Default::default()
    });
    assert_eq!(
        s.auth.account("alice", "sshd", "").await.code,
        PamCode::Success
    );
    let s = setup(DomainAuth {
        access_filter: Some("(host=web1)".into()),
        ..Default::default()
    });
    assert_eq!(
        s.auth.account("alice", "sshd", "").await.code,
        PamCode::PermDenied
    );
    s.fake.filter_matches.store(true, Ordering::SeqCst);
    assert_eq!(
        s.auth.account("alice", "sshd", "").await.code,
        PamCode::Success
    );
}

#[tokio::test]
async fn offline_account_uses_the_last_known_state() {
    let s = setup(caching());
    s.fake.account.lock().unwrap().shadow_expire = Some(20_005);
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
    // The account state is read after the reply; the directory goes away
    // once it was.
    s.creds.settled("example/alice").await;
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(
        s.auth.account("alice", "sshd", "").await.code,
        PamCode::Success
    );
    // The cached expiry date still applies as time passes.
    s.clock.advance(5 * DAY * 1000);
    assert_eq!(
        s.auth.account("alice", "sshd", "").await.code,
        PamCode::AcctExpired
    );
    // Older than offline_max_age: unknown.
    s.clock.advance(8 * DAY * 1000);
    assert_eq!(
        s.auth.account("alice", "sshd", "").await.code,
        PamCode::AuthInfoUnavail
    );
    // Without cached state: unavailable.
    let s = setup(DomainAuth::default());
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(
        s.auth.account("alice", "sshd", "").await.code,
        PamCode::AuthInfoUnavail
    );
    // An online account check is kept even without cache_credentials
    // (attributes, never a password), for key-based logins while offline.
    s.fake.offline.store(false, Ordering::SeqCst);
    assert_eq!(acct(&s).await, PamCode::Success);
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(acct(&s).await, PamCode::Success);
    assert_eq!(
        auth(&s, "alice", "alice-pw").await,
        PamCode::AuthInfoUnavail
    );
}

#[tokio::test]
async fn password_change() {
    let s = setup(caching());
    let change = |old: &str, new: &str| {
        let (o, n) = (Secret::from(old), Secret::from(new));
        let s = &s;
        async move { s.auth.change_password("alice", "passwd", &o, &n).await }
    };
    assert_eq!(change("wrong", "new-pw-1").await.code, PamCode::AuthtokErr);
    assert_eq!(change("", "new-pw-1").await.code, PamCode::AuthtokErr);
    let refused = change("alice-pw", "x").await;
    assert_eq!(refused.code, PamCode::AuthtokErr);
    assert!(refused.message.contains("quality"), "{}", refused.message);
    assert_eq!(change("alice-pw", "new-pw-1").await.code, PamCode::Success);
    // The cached credential follows the change.
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(auth(&s, "alice", "new-pw-1").await, PamCode::Success);
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::AuthErr);
    s.fake.offline.store(false, Ordering::SeqCst);
    assert_eq!(auth(&s, "alice", "new-pw-1").await, PamCode::Success);
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::AuthErr);
    // No password change while offline.
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(
        change("new-pw-1", "new-pw-2").await.code,
        PamCode::AuthtokErr
    );
}

#[tokio::test]
async fn password_policy_answers_reach_the_user() {
    let s = setup(caching());
    *s.fake.bind_override.lock().unwrap() = Some(BindResult::Locked);
    let r = s
        .auth
        .authenticate("alice", "sshd", "", &Secret::from("alice-pw"))
        .await;
    assert_eq!(r.code, PamCode::AuthErr);
    assert!(r.message.contains("locked"), "{}", r.message);
    *s.fake.bind_override.lock().unwrap() = Some(BindResult::PasswordExpired);
    let r = s
        .auth
        .authenticate("alice", "sshd", "", &Secret::from("alice-pw"))
        .await;
    assert_eq!(r.code, PamCode::AuthErr);
    assert!(r.message.contains("expired"), "{}", r.message);
    *s.fake.bind_override.lock().unwrap() = Some(BindResult::Accepted(Some(
        PolicyNotice::ExpiresIn(3 * DAY + 60),
    )));
    let r = s
        .auth
        .authenticate("alice", "sshd", "", &Secret::from("alice-pw"))
        .await;
    assert_eq!(r.code, PamCode::Success);
    assert_eq!(r.message, "");
    assert_eq!(r.notices, vec!["Your password will expire in 3 days."]);
    // The password accepted with a warning was cached like any other.
    s.fake.offline.store(true, Ordering::SeqCst);
    *s.fake.bind_override.lock().unwrap() = None;
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
}

/// Holds the argon2 worker busy until the returned sender is dropped or
/// sent to, so that no verifier can be computed meanwhile.
async fn hold_worker(s: &Setup) -> std::sync::mpsc::Sender<()> {
    let (release, gate) = std::sync::mpsc::channel::<()>();
    s.creds
        .worker()
        .submit(move |_| {
            let _ = gate.recv();
        })
        .await
        .unwrap();
    release
}

/// Polls (bounded) until the cached verifier of alice satisfies `want`.
async fn wait_for_verifier(s: &Setup, want: impl Fn(Option<&str>) -> bool) {
    for _ in 0..6000 {
        let rec = s.creds.get("example/alice");
        if want(rec.as_ref().and_then(|r| r.hash.as_deref())) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the cached verifier never reached the expected state");
}

/// `authenticate`, failing (rather than hanging) if it waits for a
/// worker held by the test.
async fn auth_unblocked(s: &Setup, pw: &str) -> PamCode {
    let bound = std::time::Duration::from_secs(60);
    tokio::time::timeout(bound, auth(s, "alice", pw))
        .await
        .expect("the login waited for the verifier")
}

#[tokio::test]
async fn the_login_is_answered_before_its_verifier_is_written() {
    let s = setup(caching());
    let release = hold_worker(&s).await;
    assert_eq!(auth_unblocked(&s, "alice-pw").await, PamCode::Success);
    assert!(
        s.creds
            .get("example/alice")
            .is_none_or(|r| r.hash.is_none()),
        "the verifier was written before the answer"
    );
    release.send(()).unwrap();
    wait_for_verifier(&s, |h| h.is_some()).await;
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
}

#[tokio::test]
async fn an_offline_check_waits_for_the_verifier_of_an_earlier_login() {
    let s = setup(caching());
    let release = hold_worker(&s).await;
    assert_eq!(auth_unblocked(&s, "alice-pw").await, PamCode::Success);
    s.fake.offline.store(true, Ordering::SeqCst);
    let pw = Secret::from("alice-pw");
    let offline = s.auth.authenticate("alice", "sshd", "", &pw);
    tokio::pin!(offline);
    // Not answered while the earlier login's verifier is not written.
    assert!(futures_poll_once(offline.as_mut()).await.is_none());
    release.send(()).unwrap();
    assert_eq!(offline.await.code, PamCode::Success);
}

/// Polls `fut` once (then lets other tasks run once); its output if ready.
async fn futures_poll_once<F: std::future::Future + Unpin>(fut: F) -> Option<F::Output> {
    let mut fut = fut;
    let polled = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await;
    tokio::task::yield_now().await;
    polled
}

#[tokio::test]
async fn the_same_password_again_does_not_compute_a_new_verifier() {
    let s = setup(caching());
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
    s.creds.settled("example/alice").await;
    let first = s.creds.get("example/alice").unwrap().hash.unwrap();
    for _ in 0..3 {
        s.clock.advance(120 * 1000);
        assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
        s.creds.settled("example/alice").await;
    }
    let rec = s.creds.get("example/alice").unwrap();
    assert_eq!(rec.hash.as_deref(), Some(first.as_str()), "recomputed");
    assert_eq!(rec.stored_at, NOW + 360, "its age follows the last login");
    // A new password accepted by the directory replaces it.
    s.fake
        .passwords
        .lock()
        .unwrap()
        .insert("alice".into(), "new-pw".into());
    assert_eq!(auth(&s, "alice", "new-pw").await, PamCode::Success);
    s.creds.settled("example/alice").await;
    assert_ne!(s.creds.get("example/alice").unwrap().hash.unwrap(), first);
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(auth(&s, "alice", "new-pw").await, PamCode::Success);
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::AuthErr);
}

#[tokio::test]
async fn a_refusal_after_an_accepted_login_wins_over_its_late_verifier() {
    let s = setup(caching());
    let release = hold_worker(&s).await;
    assert_eq!(auth_unblocked(&s, "alice-pw").await, PamCode::Success);
    // The password is reset in the directory before the verifier of the
    // accepted login could be computed; the old one is refused online.
    s.fake
        .passwords
        .lock()
        .unwrap()
        .insert("alice".into(), "reset-pw".into());
    assert_eq!(auth_unblocked(&s, "alice-pw").await, PamCode::AuthErr);
    release.send(()).unwrap();
    s.creds.settled("example/alice").await;
    assert!(
        s.creds
            .get("example/alice")
            .is_none_or(|r| r.hash.is_none()),
        "a verifier of a refused password was stored"
    );
    s.fake.offline.store(true, Ordering::SeqCst);
    assert_eq!(
        auth(&s, "alice", "alice-pw").await,
        PamCode::AuthInfoUnavail
    );
}

#[tokio::test]
async fn updates_in_flight_are_drained_or_reported() {
    let s = setup(caching());
    let release = hold_worker(&s).await;
    assert_eq!(auth_unblocked(&s, "alice-pw").await, PamCode::Success);
    let left = s.creds.drain(std::time::Duration::from_millis(1)).await;
    assert!(
        left.iter()
            .any(|(k, w)| k == "example/alice" && *w == "password verifier"),
        "{left:?}"
    );
    release.send(()).unwrap();
    assert!(s
        .creds
        .drain(std::time::Duration::from_secs(60))
        .await
        .is_empty());
    assert!(s.creds.get("example/alice").unwrap().hash.is_some());
}

/// A refused bind whose error is not a bind result (a StartTLS refused, an
/// operations error): `refused` with the server's reason, a system error,
/// no offline check.
#[tokio::test]
async fn a_refused_directory_operation_reaches_pam_as_refused_with_its_reason() {
    let s = setup(caching());
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
    s.creds.settled("example/alice").await;
    s.fake.offline.store(true, Ordering::SeqCst);
    *s.fake.error.lock().unwrap() = Some(DirectoryError::refused(
        53,
        "domain \"example\": StartTLS: unwilling to perform",
    ));
    let e = s.fake.failure();
    assert_eq!(e.kind(), "refused");
    assert!(
        matches!(&e, BackendError::Refused { rc: Some(53), reason, source: Some(_) } if reason.contains("unwilling")),
        "{e:?}"
    );
    let d = s
        .auth
        .decide_authenticate("alice", &Secret::from("alice-pw"))
        .await;
    assert_eq!(d.code, PamCode::SystemErr);
    assert!(
        d.reason.contains("refused") && d.reason.contains("StartTLS: unwilling to perform"),
        "{}",
        d.reason
    );
    assert!(!d.reason.contains("offline"), "{}", d.reason);
}

/// A timeout is `unavailable`: the cached credential answers.
#[tokio::test]
async fn a_directory_timeout_reaches_pam_as_unavailable_and_takes_the_offline_path() {
    let s = setup(caching());
    assert_eq!(auth(&s, "alice", "alice-pw").await, PamCode::Success);
    s.creds.settled("example/alice").await;
    s.fake.offline.store(true, Ordering::SeqCst);
    *s.fake.error.lock().unwrap() = Some(DirectoryError::unavailable(
        "domain \"example\" (ldap://dc1): simple bind: no answer within op_timeout 5s",
    ));
    assert_eq!(s.fake.failure().kind(), "unavailable");
    let reply = s
        .auth
        .authenticate("alice", "sshd", "", &Secret::from("alice-pw"))
        .await;
    assert_eq!(reply.code, PamCode::Success);
    assert!(
        reply.message.contains("cached credentials"),
        "{}",
        reply.message
    );
    let d = s
        .auth
        .decide_authenticate("alice", &Secret::from("wrong"))
        .await;
    assert_eq!(d.code, PamCode::AuthErr);
    assert!(
        d.reason.starts_with("offline: wrong password"),
        "{}",
        d.reason
    );
}

/// `authenticate` of alice with her password: the reply.
async fn login(s: &Setup) -> roster_proto::PamReply {
    s.auth
        .authenticate("alice", "sshd", "", &Secret::from("alice-pw"))
        .await
}

#[tokio::test]
async fn grace_logins_succeed_and_are_reported() {
    let s = setup(DomainAuth::default());
    *s.fake.bind_override.lock().unwrap() =
        Some(BindResult::Accepted(Some(PolicyNotice::GraceLogins(2))));
    let r = login(&s).await;
    assert_eq!(r.code, PamCode::Success);
    assert_eq!(
        r.notices,
        vec!["Your password has expired; grace logins remaining: 2. Change it now."]
    );
    // Reported even with expiry warnings off.
    let s = setup(DomainAuth {
        pwd_expiration_warning: 0,
        ..DomainAuth::default()
    });
    *s.fake.bind_override.lock().unwrap() =
        Some(BindResult::Accepted(Some(PolicyNotice::GraceLogins(0))));
    let r = login(&s).await;
    assert_eq!(r.code, PamCode::Success);
    assert_eq!(r.notices.len(), 1);
    assert!(r.notices[0].contains("grace logins remaining: 0"));
}

#[tokio::test]
async fn expiry_warnings_from_the_account_state_within_the_window() {
    let s = setup(DomainAuth::default());
    let today = (NOW / DAY) as i64;
    // shadowLastChange + shadowMax: expires in 3 days.
    *s.fake.account.lock().unwrap() = AccountInfo {
        shadow_last_change: Some(today - 87),
        shadow_max: Some(90),
        ..AccountInfo::default()
    };
    let r = login(&s).await;
    assert_eq!(r.code, PamCode::Success);
    assert_eq!(r.notices, vec!["Your password will expire in 3 days."]);
    // AD: the expiry time the directory computed.
    *s.fake.account.lock().unwrap() = AccountInfo {
        password_expires_at: Some(NOW as i64 + 2 * DAY as i64 + 100),
        ..AccountInfo::default()
    };
    assert_eq!(
        login(&s).await.notices,
        vec!["Your password will expire in 2 days."]
    );
    // Outside the window: nothing.
    *s.fake.account.lock().unwrap() = AccountInfo {
        password_expires_at: Some(NOW as i64 + 30 * DAY as i64),
        ..AccountInfo::default()
    };
    assert!(login(&s).await.notices.is_empty());
    // pwd_expiration_warning = 0: never.
    let s = setup(DomainAuth {
        pwd_expiration_warning: 0,
        ..DomainAuth::default()
    });
    *s.fake.account.lock().unwrap() = AccountInfo {
        password_expires_at: Some(NOW as i64 + 60),
        ..AccountInfo::default()
    };
    let r = login(&s).await;
    assert_eq!(r.code, PamCode::Success);
    assert!(r.notices.is_empty(), "{:?}", r.notices);
    // A ppolicy expiry beyond the window is not shown either.
    let s = setup(DomainAuth::default());
    *s.fake.bind_override.lock().unwrap() = Some(BindResult::Accepted(Some(
        PolicyNotice::ExpiresIn(30 * DAY),
    )));
    assert!(login(&s).await.notices.is_empty());
}

#[tokio::test]
async fn a_timed_lock_refuses_until_it_ends() {
    let s = setup(DomainAuth::default());
    *s.fake.account.lock().unwrap() = AccountInfo {
        locked_until: Some(NOW as i64 + 30),
        ..AccountInfo::default()
    };
    let r = s.auth.account("alice", "sshd", "").await;
    assert_eq!(r.code, PamCode::PermDenied);
    assert!(r.message.contains("try again later"), "{}", r.message);
    s.clock.advance(30 * 1000);
    assert_eq!(
        s.auth.account("alice", "sshd", "").await.code,
        PamCode::Success
    );
}

//! Unprivileged callers (their own account only, throttled per UID) and
//! root's password reset, against a small fake directory.

use super::backend::*;
use super::caller::{NOT_YOURS, THROTTLED};
use super::credentials::CredentialStore;
use super::service::PamAuth;
use super::settings::AuthSettings;
use super::throttle::{Throttle, ThrottleSettings};
use crate::backend_error::BackendError;
use crate::clock::ManualClock;
use crate::resolver::{Answer, DomainError, Source};
use roster_proto::{PamCode, Secret};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const DAVE_UID: u32 = 10001;
const ERIN_UID: u32 = 10002;

#[derive(Default)]
struct Dir {
    passwords: Mutex<HashMap<String, String>>,
    binds: AtomicUsize,
    offline: AtomicBool,
    /// Resets are supported (the domain has a password admin).
    admin: AtomicBool,
    resets: AtomicUsize,
}

fn user(name: &str, uid: u32) -> AuthUser {
    AuthUser {
        name: name.into(),
        uid,
        dn: format!("uid={name},ou=people,dc=example,dc=test"),
        domain: "example".into(),
    }
}

impl AuthBackend for Dir {
    fn find_user<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Answer<AuthUser>> {
        Box::pin(async move {
            if self.offline.load(Ordering::SeqCst) {
                return Answer::Unavailable(DomainError::new(
                    "example",
                    BackendError::unavailable("connection refused"),
                ));
            }
            match name {
                "dave" | "dave@example" => Answer::Found(user("dave", DAVE_UID), Source::Directory),
                "erin" => Answer::Found(user("erin", ERIN_UID), Source::Directory),
                _ => Answer::NotFound,
            }
        })
    }
    fn user_gids<'a>(&'a self, _user: &'a AuthUser) -> BoxFuture<'a, Answer<Vec<u32>>> {
        Box::pin(async move { Answer::NotFound })
    }
    fn group_gid<'a>(&'a self, _domain: &'a str, _name: &'a str) -> BoxFuture<'a, Answer<u32>> {
        Box::pin(async move { Answer::NotFound })
    }
    fn shadowed_by_local(&self, _user: &AuthUser) -> Option<String> {
        None
    }
    fn verify_password<'a>(
        &'a self,
        user: &'a AuthUser,
        password: &'a Secret,
    ) -> BoxFuture<'a, Result<BindResult, BackendError>> {
        Box::pin(async move {
            self.binds.fetch_add(1, Ordering::SeqCst);
            let pws = self.passwords.lock().unwrap();
            Ok(
                if pws.get(&user.name).map(|p| p.as_bytes()) == Some(password.expose()) {
                    BindResult::Accepted(None)
                } else {
                    BindResult::InvalidCredentials
                },
            )
        })
    }
    fn account_info<'a>(
        &'a self,
        _user: &'a AuthUser,
        _access_filter: Option<&'a str>,
    ) -> BoxFuture<'a, Result<AccountInfo, BackendError>> {
        Box::pin(async move { Ok(AccountInfo::default()) })
    }
    fn change_password<'a>(
        &'a self,
        _user: &'a AuthUser,
        _old: &'a Secret,
        _new: &'a Secret,
    ) -> BoxFuture<'a, Result<ChangeResult, BackendError>> {
        Box::pin(async move { Ok(ChangeResult::WrongOldPassword) })
    }
    fn reset_password<'a>(
        &'a self,
        user: &'a AuthUser,
        new: &'a Secret,
    ) -> BoxFuture<'a, Result<ChangeResult, BackendError>> {
        Box::pin(async move {
            if !self.admin.load(Ordering::SeqCst) {
                return Err(BackendError::invalid(
                    "domain example has no password_admin_dn / password_admin_password_file: root cannot reset passwords",
                ));
            }
            if new.expose().len() < 4 {
                return Ok(ChangeResult::Refused(
                    "Password fails quality checking policy".into(),
                ));
            }
            self.resets.fetch_add(1, Ordering::SeqCst);
            self.passwords.lock().unwrap().insert(
                user.name.clone(),
                String::from_utf8(new.expose().to_vec()).unwrap(),
            );
            Ok(ChangeResult::Changed)
        })
    }
}

struct Setup {
    dir: Arc<Dir>,
    auth: PamAuth,
    throttle: Arc<Throttle>,
    clock: Arc<ManualClock>,
}

fn setup() -> Setup {
    let dir = Arc::new(Dir::default());
    for (n, p) in [("dave", "dave-pw"), ("erin", "erin-pw")] {
        dir.passwords.lock().unwrap().insert(n.into(), p.into());
    }
    let auth = PamAuth::with_clock(
        dir.clone(),
        AuthSettings::default(),
        Arc::new(CredentialStore::in_memory()),
        Arc::new(ManualClock::new(20_000 * 86_400 * 1000)),
    );
    let clock = Arc::new(ManualClock::new(5_000_000));
    let throttle = Arc::new(Throttle::new(ThrottleSettings::default(), clock.clone()));
    Setup {
        dir,
        auth,
        throttle,
        clock,
    }
}

impl Setup {
    async fn caller(&self, uid: u32, name: &str, pw: &str) -> roster_proto::PamReply {
        self.auth
            .authenticate_caller(&self.throttle, uid, name, "swaylock", "", &Secret::from(pw))
            .await
    }
}

#[tokio::test]
async fn a_caller_owns_only_the_account_of_its_uid() {
    let s = setup();
    assert!(s.auth.caller_owns(DAVE_UID, "dave").await.is_none());
    assert!(s.auth.caller_owns(DAVE_UID, "dave@example").await.is_none());
    let other = s.auth.caller_owns(DAVE_UID, "erin").await.unwrap();
    let unknown = s.auth.caller_owns(DAVE_UID, "nobody-here").await.unwrap();
    // The same answer for another account and for no account at all.
    for d in [&other, &unknown] {
        assert_eq!(d.code, PamCode::UserUnknown);
        assert_eq!(d.message, NOT_YOURS);
    }
    assert!(other.reason.contains("caller uid 10001") && other.reason.contains("is uid 10002"));
    assert!(unknown.reason.contains("not a directory user"));
    // Root has no directory account: refused like anyone else.
    assert!(s.auth.caller_owns(0, "dave").await.is_some());
    s.dir.offline.store(true, Ordering::SeqCst);
    let off = s.auth.caller_owns(DAVE_UID, "dave").await.unwrap();
    assert_eq!(off.code, PamCode::AuthInfoUnavail);
}

#[tokio::test]
async fn a_caller_authenticates_itself_and_no_one_else() {
    let s = setup();
    assert_eq!(
        s.caller(DAVE_UID, "dave", "dave-pw").await.code,
        PamCode::Success
    );
    let r = s.caller(DAVE_UID, "erin", "erin-pw").await;
    assert_eq!(
        (r.code, r.message.as_str()),
        (PamCode::UserUnknown, NOT_YOURS)
    );
    // Erin's password was never tried, and nothing was counted.
    assert_eq!(s.dir.binds.load(Ordering::SeqCst), 1);
    assert_eq!(s.throttle.failures(DAVE_UID), 0);
}

#[tokio::test]
async fn wrong_passwords_are_throttled_per_uid() {
    let s = setup();
    assert_eq!(
        s.caller(DAVE_UID, "dave", "wrong").await.code,
        PamCode::AuthErr
    );
    assert_eq!(s.throttle.failures(DAVE_UID), 1);
    let binds = s.dir.binds.load(Ordering::SeqCst);
    // Inside the window even the right password is not checked.
    let r = s.caller(DAVE_UID, "dave", "dave-pw").await;
    assert_eq!((r.code, r.message.as_str()), (PamCode::AuthErr, THROTTLED));
    assert_eq!(s.dir.binds.load(Ordering::SeqCst), binds);
    // Erin's UID is not slowed by Dave's failures.
    assert_eq!(
        s.caller(ERIN_UID, "erin", "erin-pw").await.code,
        PamCode::Success
    );
    // After the window, the next failure doubles it.
    s.clock.advance(2_000);
    assert_eq!(
        s.caller(DAVE_UID, "dave", "wrong").await.code,
        PamCode::AuthErr
    );
    assert_eq!(s.throttle.failures(DAVE_UID), 2);
    s.clock.advance(2_000);
    assert_eq!(
        s.caller(DAVE_UID, "dave", "dave-pw").await.message,
        THROTTLED
    );
    s.clock.advance(2_000);
    // The right password, once checked, forgets the failures.
    assert_eq!(
        s.caller(DAVE_UID, "dave", "dave-pw").await.code,
        PamCode::Success
    );
    assert_eq!(s.throttle.failures(DAVE_UID), 0);
}

#[tokio::test]
async fn root_resets_a_password_through_the_password_admin() {
    let s = setup();
    s.dir.admin.store(true, Ordering::SeqCst);
    let r = s
        .auth
        .reset_password("dave", "passwd", &Secret::from("brand-new-pw"))
        .await;
    assert_eq!(r.code, PamCode::Success, "{r:?}");
    assert_eq!(s.dir.passwords.lock().unwrap()["dave"], "brand-new-pw");
    let short = s
        .auth
        .reset_password("dave", "passwd", &Secret::from("x"))
        .await;
    assert_eq!(short.code, PamCode::AuthtokErr);
    assert_eq!(
        short.message,
        "Password reset refused: Password fails quality checking policy"
    );
    let empty = s
        .auth
        .reset_password("dave", "passwd", &Secret::from(""))
        .await;
    assert_eq!(empty.code, PamCode::AuthtokErr);
    let unknown = s
        .auth
        .reset_password("nobody-here", "passwd", &Secret::from("brand-new-pw"))
        .await;
    assert_eq!(unknown.code, PamCode::UserUnknown);
    assert_eq!(s.dir.resets.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn without_a_password_admin_root_is_told_which_keys_are_missing() {
    let s = setup();
    let r = s
        .auth
        .reset_password("dave", "passwd", &Secret::from("brand-new-pw"))
        .await;
    assert_eq!(r.code, PamCode::AuthtokErr);
    assert_eq!(
        r.message,
        "domain example has no password_admin_dn / password_admin_password_file: root cannot reset passwords"
    );
    assert_eq!(s.dir.passwords.lock().unwrap()["dave"], "dave-pw");
}

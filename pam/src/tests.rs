//! Flow tests: a scripted PAM environment and a fake rosterd on a real Unix
//! socket (the module's own client code is exercised end to end).

use crate::account::account;
use crate::authenticate::authenticate;
use crate::daemon::SocketDaemon;
use crate::env::PamEnv;
use crate::options::Options;
use crate::password::{
    chauthtok, chauthtok_as, Changer, PAM_CHANGE_EXPIRED_AUTHTOK, PAM_PRELIM_CHECK,
    PAM_UPDATE_AUTHTOK,
};
use crate::session::open_session;
use pam::constants::PamResultCode;
use roster_proto::{
    decode_request, encode_response, parse_header, PamCode, PamReply, Request, Response, Secret,
};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A scripted PAM environment.
#[derive(Default)]
struct FakeEnv {
    user: String,
    authtok: Option<Secret>,
    old_authtok: Option<Secret>,
    answers: RefCell<VecDeque<&'static str>>,
    prompts: RefCell<Vec<String>>,
    infos: RefCell<Vec<String>>,
    errors: RefCell<Vec<String>>,
}

impl FakeEnv {
    fn new(user: &str, answers: &[&'static str]) -> FakeEnv {
        FakeEnv {
            user: user.to_string(),
            answers: RefCell::new(answers.iter().copied().collect()),
            ..Default::default()
        }
    }
}

impl PamEnv for FakeEnv {
    fn user(&mut self) -> Result<String, PamResultCode> {
        Ok(self.user.clone())
    }
    fn service(&self) -> String {
        "sshd".into()
    }
    fn rhost(&self) -> String {
        "192.0.2.7".into()
    }
    fn authtok(&self) -> Option<Secret> {
        self.authtok.clone()
    }
    fn set_authtok(&mut self, token: &Secret) -> Result<(), PamResultCode> {
        self.authtok = Some(token.clone());
        Ok(())
    }
    fn old_authtok(&self) -> Option<Secret> {
        self.old_authtok.clone()
    }
    fn set_old_authtok(&mut self, token: &Secret) -> Result<(), PamResultCode> {
        self.old_authtok = Some(token.clone());
        Ok(())
    }
    fn prompt_secret(&self, prompt: &str) -> Result<Option<Secret>, PamResultCode> {
        self.prompts.borrow_mut().push(prompt.to_string());
        Ok(self.answers.borrow_mut().pop_front().map(Secret::from))
    }
    fn info(&self, message: &str) {
        self.infos.borrow_mut().push(message.to_string());
    }
    fn error(&self, message: &str) {
        self.errors.borrow_mut().push(message.to_string());
    }
}

/// A fake rosterd: answers every request on its socket with `handler` and
/// records the requests.
struct FakeDaemon {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl FakeDaemon {
    fn start(handler: impl Fn(&Request) -> Response + Send + 'static) -> FakeDaemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("pam.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { return };
                let mut prefix = [0u8; 4];
                if s.read_exact(&mut prefix).is_err() {
                    continue;
                }
                let header = parse_header(prefix).unwrap();
                let mut body = vec![0; header.len];
                s.read_exact(&mut body).unwrap();
                let req = decode_request(&body).unwrap();
                let resp = handler(&req);
                log.lock().unwrap().push(req);
                let _ = s.write_all(&encode_response(&resp));
            }
        });
        FakeDaemon {
            _dir: dir,
            socket,
            seen,
        }
    }

    /// A daemon that answers every request with one PAM decision.
    fn answering(code: PamCode, message: &str) -> FakeDaemon {
        let message = message.to_string();
        FakeDaemon::start(move |_| Response::Pam(PamReply::new(code, message.clone())))
    }

    fn options(&self) -> Options {
        let mut o = Options::parse([]);
        o.socket = self.socket.clone();
        o.timeout = Duration::from_secs(5);
        o.passwd_file = PathBuf::from("/nonexistent/passwd");
        o
    }

    /// The module's client on the fake's socket, as root's (the fake
    /// stands for `pam.sock` whoever runs the tests).
    fn client(&self) -> SocketDaemon {
        SocketDaemon::for_caller(&self.options(), true)
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

fn password_of(req: &Request) -> String {
    match req {
        Request::PamAuthenticate { password, .. } => {
            String::from_utf8(password.expose().to_vec()).unwrap()
        }
        other => panic!("not an authenticate request: {other:?}"),
    }
}

#[test]
fn prompts_for_the_password_and_sends_it_with_service_and_rhost() {
    let d = FakeDaemon::answering(PamCode::Success, "");
    let mut env = FakeEnv::new("alice", &["alice-pw"]);
    let rc = authenticate(&mut env, &d.client(), &d.options());
    assert_eq!(rc, PamResultCode::PAM_SUCCESS);
    assert_eq!(*env.prompts.borrow(), vec!["Password: "]);
    let reqs = d.requests();
    assert_eq!(reqs.len(), 1);
    match &reqs[0] {
        Request::PamAuthenticate {
            user,
            service,
            rhost,
            ..
        } => assert_eq!(
            (user.as_str(), service.as_str(), rhost.as_str()),
            ("alice", "sshd", "192.0.2.7")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(password_of(&reqs[0]), "alice-pw");
    // Stored for the modules stacked after this one.
    assert_eq!(env.authtok.as_ref().unwrap().expose(), b"alice-pw");
}

#[test]
fn every_daemon_decision_maps_to_its_pam_code() {
    let cases = [
        (PamCode::Success, PamResultCode::PAM_SUCCESS),
        (PamCode::UserUnknown, PamResultCode::PAM_USER_UNKNOWN),
        (PamCode::AuthErr, PamResultCode::PAM_AUTH_ERR),
        (
            PamCode::AuthInfoUnavail,
            PamResultCode::PAM_AUTHINFO_UNAVAIL,
        ),
        (PamCode::MaxTries, PamResultCode::PAM_MAXTRIES),
        (PamCode::SystemErr, PamResultCode::PAM_SYSTEM_ERR),
    ];
    for (code, want) in cases {
        let d = FakeDaemon::answering(code, "");
        let mut env = FakeEnv::new("alice", &["pw"]);
        assert_eq!(
            authenticate(&mut env, &d.client(), &d.options()),
            want,
            "{code:?}"
        );
    }
    let cases = [
        (PamCode::Success, PamResultCode::PAM_SUCCESS),
        (PamCode::AcctExpired, PamResultCode::PAM_ACCT_EXPIRED),
        (PamCode::PermDenied, PamResultCode::PAM_PERM_DENIED),
        (PamCode::NewAuthtokReqd, PamResultCode::PAM_NEW_AUTHTOK_REQD),
        (PamCode::UserUnknown, PamResultCode::PAM_USER_UNKNOWN),
    ];
    for (code, want) in cases {
        let d = FakeDaemon::answering(code, "");
        let mut env = FakeEnv::new("alice", &[]);
        assert_eq!(
            account(&mut env, &d.client(), &d.options()),
            want,
            "{code:?}"
        );
    }
}

#[test]
fn empty_password_is_refused_without_asking_the_daemon() {
    let d = FakeDaemon::answering(PamCode::Success, "");
    let mut env = FakeEnv::new("alice", &[""]);
    assert_eq!(
        authenticate(&mut env, &d.client(), &d.options()),
        PamResultCode::PAM_AUTH_ERR
    );
    // try_first_pass with an empty token from an earlier module: refused too.
    let mut env = FakeEnv::new("alice", &[]);
    env.authtok = Some(Secret::from(""));
    let mut o = d.options();
    o.try_first_pass = true;
    assert_eq!(
        authenticate(&mut env, &d.client(), &o),
        PamResultCode::PAM_AUTH_ERR
    );
    assert!(d.requests().is_empty(), "{:?}", d.requests());
}

#[test]
fn use_first_pass_and_try_first_pass() {
    let d = FakeDaemon::answering(PamCode::Success, "");
    let mut o = d.options();
    o.use_first_pass = true;
    // use_first_pass with a token: no prompt.
    let mut env = FakeEnv::new("alice", &["never-asked"]);
    env.authtok = Some(Secret::from("first-pw"));
    assert_eq!(
        authenticate(&mut env, &d.client(), &o),
        PamResultCode::PAM_SUCCESS
    );
    assert!(env.prompts.borrow().is_empty());
    // use_first_pass without one: fails, still no prompt.
    let mut env = FakeEnv::new("alice", &["never-asked"]);
    assert_eq!(
        authenticate(&mut env, &d.client(), &o),
        PamResultCode::PAM_AUTH_ERR
    );
    assert!(env.prompts.borrow().is_empty());
    // try_first_pass without one: prompts.
    let mut o = d.options();
    o.try_first_pass = true;
    let mut env = FakeEnv::new("alice", &["typed-pw"]);
    assert_eq!(
        authenticate(&mut env, &d.client(), &o),
        PamResultCode::PAM_SUCCESS
    );
    assert_eq!(env.prompts.borrow().len(), 1);
    let sent: Vec<String> = d.requests().iter().map(password_of).collect();
    assert_eq!(sent, vec!["first-pw", "typed-pw"]);
}

#[test]
fn local_users_are_left_to_pam_unix_without_the_daemon() {
    let d = FakeDaemon::answering(PamCode::Success, "");
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    let mut o = d.options();
    o.passwd_file = passwd;
    let mut env = FakeEnv::new("root", &["pw"]);
    assert_eq!(
        authenticate(&mut env, &d.client(), &o),
        PamResultCode::PAM_USER_UNKNOWN
    );
    assert_eq!(
        account(&mut env, &d.client(), &o),
        PamResultCode::PAM_USER_UNKNOWN
    );
    assert!(env.prompts.borrow().is_empty());
    assert!(d.requests().is_empty());
}

#[test]
fn user_names_with_control_characters_never_reach_the_daemon() {
    let d = FakeDaemon::answering(PamCode::Success, "");
    let o = d.options();
    for name in [
        "eve\nroot",
        "eve\u{1b}[2J",
        "eve\0",
        "eve\r",
        "eve\u{7f}",
        "eve\u{85}",
    ] {
        let mut env = FakeEnv::new(name, &["pw"]);
        assert_eq!(
            authenticate(&mut env, &d.client(), &o),
            PamResultCode::PAM_USER_UNKNOWN,
            "{name:?}"
        );
        assert_eq!(
            account(&mut env, &d.client(), &o),
            PamResultCode::PAM_USER_UNKNOWN,
            "{name:?}"
        );
        assert!(env.prompts.borrow().is_empty(), "{name:?}");
    }
    assert!(d.requests().is_empty());
    // A plain name goes through.
    let mut env = FakeEnv::new("eve", &["pw"]);
    assert_eq!(
        authenticate(&mut env, &d.client(), &o),
        PamResultCode::PAM_SUCCESS
    );
}

#[test]
fn unreachable_daemon_is_authinfo_unavail() {
    let mut o = Options::parse(["socket=/nonexistent/roster/pam.sock"]);
    o.passwd_file = PathBuf::from("/nonexistent/passwd");
    let daemon = SocketDaemon::new(&o);
    let mut env = FakeEnv::new("alice", &["pw"]);
    assert_eq!(
        authenticate(&mut env, &daemon, &o),
        PamResultCode::PAM_AUTHINFO_UNAVAIL
    );
    assert_eq!(
        account(&mut env, &daemon, &o),
        PamResultCode::PAM_AUTHINFO_UNAVAIL
    );
    assert_eq!(
        open_session(&mut env, &daemon, &o),
        PamResultCode::PAM_IGNORE
    );
}

#[test]
fn a_silent_daemon_is_bounded_by_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pam.sock");
    let _listener = UnixListener::bind(&socket).unwrap(); // never answers
    let mut o = Options::parse(["timeout=1"]);
    o.socket = socket;
    o.passwd_file = PathBuf::from("/nonexistent/passwd");
    let mut env = FakeEnv::new("alice", &["pw"]);
    assert_eq!(
        authenticate(&mut env, &SocketDaemon::new(&o), &o),
        PamResultCode::PAM_AUTHINFO_UNAVAIL
    );
}

#[test]
fn daemon_messages_reach_the_user() {
    let d = FakeDaemon::answering(PamCode::AcctExpired, "Your account has expired");
    let mut env = FakeEnv::new("alice", &[]);
    assert_eq!(
        account(&mut env, &d.client(), &d.options()),
        PamResultCode::PAM_ACCT_EXPIRED
    );
    assert_eq!(*env.errors.borrow(), vec!["Your account has expired"]);
    // Unavailable / Error / NotFound statuses.
    for (resp, want) in [
        (
            Response::Unavailable("no server".into()),
            PamResultCode::PAM_AUTHINFO_UNAVAIL,
        ),
        (
            Response::Error("boom".into()),
            PamResultCode::PAM_SYSTEM_ERR,
        ),
        (Response::NotFound, PamResultCode::PAM_USER_UNKNOWN),
        (
            Response::Admin(Ok(roster_proto::AdminReply::Reloaded)),
            PamResultCode::PAM_SYSTEM_ERR,
        ),
    ] {
        let d = FakeDaemon::start(move |_| resp.clone());
        let mut env = FakeEnv::new("alice", &[]);
        assert_eq!(account(&mut env, &d.client(), &d.options()), want);
    }
}

#[test]
fn password_change_verifies_the_old_then_sends_both() {
    let d = FakeDaemon::start(|req| match req {
        Request::PamAuthenticate { password, .. } if password.expose() == b"old-pw" => {
            Response::Pam(PamReply::new(PamCode::Success, ""))
        }
        Request::PamAuthenticate { .. } => Response::Pam(PamReply::new(PamCode::AuthErr, "")),
        Request::PamChangePassword { .. } => {
            Response::Pam(PamReply::new(PamCode::Success, "Password changed"))
        }
        _ => Response::Error("unexpected".into()),
    });
    let (daemon, o) = (d.client(), d.options());
    let mut env = FakeEnv::new("alice", &["old-pw", "new-pw", "new-pw"]);
    assert_eq!(
        chauthtok(&mut env, &daemon, &o, PAM_PRELIM_CHECK),
        PamResultCode::PAM_SUCCESS
    );
    assert_eq!(
        chauthtok(&mut env, &daemon, &o, PAM_UPDATE_AUTHTOK),
        PamResultCode::PAM_SUCCESS
    );
    assert_eq!(
        *env.prompts.borrow(),
        vec![
            "Current password: ",
            "New password: ",
            "Retype new password: "
        ]
    );
    assert_eq!(*env.infos.borrow(), vec!["Password changed"]);
    let reqs = d.requests();
    match &reqs[1] {
        Request::PamChangePassword {
            user,
            old_password,
            new_password,
            ..
        } => {
            assert_eq!(user, "alice");
            assert_eq!(old_password.expose(), b"old-pw");
            assert_eq!(new_password.expose(), b"new-pw");
        }
        other => panic!("{other:?}"),
    }

    // A wrong current password stops at the first phase.
    let mut env = FakeEnv::new("alice", &["wrong", "new-pw", "new-pw"]);
    assert_eq!(
        chauthtok(&mut env, &daemon, &o, PAM_PRELIM_CHECK),
        PamResultCode::PAM_AUTH_ERR
    );
    assert_eq!(env.prompts.borrow().len(), 1);
}

#[test]
fn mismatched_or_empty_new_passwords_are_refused_locally() {
    let d = FakeDaemon::answering(PamCode::Success, "");
    let (daemon, o) = (d.client(), d.options());
    for answers in [&["a", "b"][..], &[""][..]] {
        let mut env = FakeEnv::new("alice", answers);
        env.old_authtok = Some(Secret::from("old-pw"));
        assert_eq!(
            chauthtok(&mut env, &daemon, &o, PAM_UPDATE_AUTHTOK),
            PamResultCode::PAM_AUTHTOK_ERR
        );
        assert_eq!(env.errors.borrow().len(), 1);
    }
    assert!(d.requests().is_empty());
}

#[test]
fn policy_refusal_of_a_new_password_is_shown() {
    let d = FakeDaemon::answering(PamCode::AuthtokErr, "Password fails quality checking");
    let mut env = FakeEnv::new("alice", &["x", "x"]);
    env.old_authtok = Some(Secret::from("old-pw"));
    assert_eq!(
        chauthtok(&mut env, &d.client(), &d.options(), PAM_UPDATE_AUTHTOK),
        PamResultCode::PAM_AUTHTOK_ERR
    );
    assert_eq!(
        *env.errors.borrow(),
        vec!["Password fails quality checking"]
    );
}

#[test]
fn session_is_reported_to_the_daemon() {
    let d = FakeDaemon::answering(PamCode::Success, "");
    let mut env = FakeEnv::new("alice", &[]);
    assert_eq!(
        open_session(&mut env, &d.client(), &d.options()),
        PamResultCode::PAM_SUCCESS
    );
    assert!(matches!(
        &d.requests()[..],
        [Request::PamOpenSession { user, .. }] if user == "alice"
    ));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let req = Request::PamAuthenticate {
        user: "alice".into(),
        service: "sshd".into(),
        rhost: String::new(),
        password: Secret::from("alice-pw"),
    };
    assert!(!format!("{req:?}").contains("alice-pw"));
}

#[test]
fn root_resets_a_password_without_the_current_one() {
    let d = FakeDaemon::answering(PamCode::Success, "");
    let (daemon, o) = (d.client(), d.options());
    let mut env = FakeEnv::new("alice", &["new-pw", "new-pw"]);
    assert_eq!(
        chauthtok_as(&mut env, &daemon, &o, PAM_PRELIM_CHECK, Changer::Root),
        PamResultCode::PAM_SUCCESS
    );
    assert!(env.prompts.borrow().is_empty(), "no current password asked");
    assert_eq!(
        chauthtok_as(&mut env, &daemon, &o, PAM_UPDATE_AUTHTOK, Changer::Root),
        PamResultCode::PAM_SUCCESS
    );
    assert_eq!(
        *env.prompts.borrow(),
        vec!["New password: ", "Retype new password: "]
    );
    match &d.requests()[..] {
        [Request::PamResetPassword {
            user, new_password, ..
        }] => {
            assert_eq!(user, "alice");
            assert_eq!(new_password.expose(), b"new-pw");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn root_is_refused_with_the_daemons_message() {
    let msg = "domain example has no password_admin_dn / password_admin_password_file: root cannot reset passwords";
    let d = FakeDaemon::answering(PamCode::AuthtokErr, msg);
    let mut env = FakeEnv::new("alice", &["new-pw", "new-pw"]);
    assert_eq!(
        chauthtok_as(
            &mut env,
            &d.client(),
            &d.options(),
            PAM_UPDATE_AUTHTOK,
            Changer::Root
        ),
        PamResultCode::PAM_AUTHTOK_ERR
    );
    assert_eq!(*env.errors.borrow(), vec![msg]);
}

#[test]
fn only_root_outside_an_expired_password_change_resets() {
    assert_eq!(Changer::of(true, PAM_UPDATE_AUTHTOK), Changer::Root);
    assert_eq!(
        Changer::of(true, PAM_UPDATE_AUTHTOK | PAM_CHANGE_EXPIRED_AUTHTOK),
        Changer::User
    );
    assert_eq!(Changer::of(false, PAM_UPDATE_AUTHTOK), Changer::User);
}

#[test]
fn notices_are_shown_as_text_info_before_the_message() {
    let d = FakeDaemon::start(|_| {
        Response::Pam(PamReply {
            code: PamCode::Success,
            message: "Welcome".into(),
            notices: vec![
                "Your password will expire in 3 days.".into(),
                "Your password has expired; grace logins remaining: 2.".into(),
            ],
        })
    });
    let mut env = FakeEnv::new("alice", &["pw"]);
    assert_eq!(
        authenticate(&mut env, &d.client(), &d.options()),
        PamResultCode::PAM_SUCCESS
    );
    assert_eq!(
        *env.infos.borrow(),
        vec![
            "Your password will expire in 3 days.",
            "Your password has expired; grace logins remaining: 2.",
            "Welcome"
        ]
    );
    assert!(env.errors.borrow().is_empty());
    // Notices are information even when the decision is a refusal.
    let d = FakeDaemon::start(|_| {
        Response::Pam(PamReply {
            code: PamCode::AuthErr,
            message: "Refused".into(),
            notices: vec!["A notice".into()],
        })
    });
    let mut env = FakeEnv::new("alice", &["pw"]);
    assert_eq!(
        authenticate(&mut env, &d.client(), &d.options()),
        PamResultCode::PAM_AUTH_ERR
    );
    assert_eq!(*env.infos.borrow(), vec!["A notice"]);
    assert_eq!(*env.errors.borrow(), vec!["Refused"]);
}

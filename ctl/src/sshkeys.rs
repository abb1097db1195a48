//! `rosterctl ssh-keys USER`: sshd's `AuthorizedKeysCommand`. Asks rosterd
//! on the unprivileged `nss.sock` (so it runs as `AuthorizedKeysCommandUser
//! nobody`) and prints one key per line. Exit status as SSSD's
//! `sss_ssh_authorizedkeys`: 0 with the keys, 0 with no output for a user
//! without keys or a local user, 1 with the reason on stderr otherwise.

use super::cli::SshKeysArgs;
use super::context::Ctx;
use super::output::print_json;
use anyhow::{anyhow, bail};
use roster_proto::{Client, Request, Response};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// How long sshd may wait for the answer (rosterd answers from its cache
/// when the directory is slow or gone, well within this).
const TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `rosterctl ssh-keys`.
pub fn run(ctx: &Ctx, args: &SshKeysArgs) -> anyhow::Result<ExitCode> {
    let socket = ctx.nss_socket();
    let request = Request::SshKeys(args.user.clone());
    let reply = Client::request_once(&socket, &request, TIMEOUT)
        .map_err(|e| anyhow!("rosterd at {}: {e}", socket.display()))?;
    let keys = keys_of(&args.user, reply)?;
    if ctx.json {
        print_json(&serde_json::json!({ "ok": true, "user": args.user, "keys": keys }));
        return Ok(ExitCode::SUCCESS);
    }
    // sshd may close the pipe once it found the key it wanted: a write
    // error then is no failure.
    let mut out = std::io::stdout().lock();
    for k in &keys {
        if writeln!(out, "{k}").is_err() {
            break;
        }
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}

/// The keys in rosterd's reply to the `SshKeys` request for `user`.
fn keys_of(user: &str, reply: Response) -> anyhow::Result<Vec<String>> {
    match reply {
        Response::SshKeys(keys) => Ok(keys),
        Response::NotFound => bail!("no user {user:?} in the directory"),
        Response::Unavailable(reason) => {
            bail!("the keys of {user:?} are unavailable: {reason}")
        }
        Response::Error(message) => bail!("rosterd refused the request: {message}"),
        other => bail!("unexpected reply from rosterd: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reply_has_its_outcome() {
        let k = "ssh-ed25519 AAAA c".to_string();
        assert_eq!(
            keys_of("a", Response::SshKeys(vec![k.clone()])).unwrap(),
            vec![k]
        );
        assert!(keys_of("a", Response::SshKeys(Vec::new()))
            .unwrap()
            .is_empty());
        let e = keys_of("ghost", Response::NotFound).unwrap_err();
        assert!(e.to_string().contains("no user \"ghost\""), "{e}");
        let e = keys_of("a", Response::Unavailable("no server".into())).unwrap_err();
        assert!(e.to_string().contains("no server"), "{e}");
        assert!(keys_of("a", Response::Error("bad".into())).is_err());
        assert!(keys_of("a", Response::Gids(vec![1])).is_err());
    }
}

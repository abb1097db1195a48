//! The result of `rosterctl test`: one list of steps per domain, with the
//! entries the host would refuse and a sample of the ID mapping.

use super::entries::{Rejected, Usable};
use serde::Serialize;
use std::fmt::Write as _;

/// Outcome of one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Passed.
    Ok,
    /// Passed, with something the administrator should know.
    Warn,
    /// Failed: later steps that depend on it were not run.
    Fail,
}

/// One step: what was tested, on what, and what happened.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Step name: config, nfs, discovery, kdc, dns, tcp, starttls, tls,
    /// connect, bind, clock, keytab, enctypes, kvno, base_dn,
    /// user_search_base, group_search_base, users, groups, entries, mapping.
    pub step: &'static str,
    /// What it ran against (a URI, a DN, a filter).
    pub target: String,
    /// Outcome.
    pub status: Status,
    /// The precise result or failure.
    pub message: String,
    /// Further lines (certificate details, rejected entries, sample).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// Everything found for one domain.
#[derive(Debug, Default, Serialize)]
pub struct DomainReport {
    /// Domain name.
    pub name: String,
    /// True when no step failed.
    pub ok: bool,
    /// The steps in the order they ran.
    pub steps: Vec<Step>,
    /// Entries the user filter found.
    pub users_found: Option<usize>,
    /// Entries the group filter found.
    pub groups_found: Option<usize>,
    /// Users this host would refuse, with reasons.
    pub rejected_users: Vec<Rejected>,
    /// Groups this host would refuse, with reasons.
    pub rejected_groups: Vec<Rejected>,
    /// A sample of usable users with their IDs.
    pub sample: Vec<Usable>,
}

impl DomainReport {
    /// An empty report for domain `name`.
    pub fn new(name: &str) -> DomainReport {
        DomainReport {
            name: name.to_string(),
            ok: true,
            ..Default::default()
        }
    }

    /// Records a step.
    pub fn push(
        &mut self,
        step: &'static str,
        target: impl Into<String>,
        status: Status,
        message: impl Into<String>,
    ) -> &mut Step {
        if status == Status::Fail {
            self.ok = false;
        }
        self.steps.push(Step {
            step,
            target: target.into(),
            status,
            message: message.into(),
            details: Vec::new(),
        });
        self.steps.last_mut().expect("just pushed")
    }

    /// The text form.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "domain \"{}\": {}",
            self.name,
            if self.ok { "OK" } else { "FAILED" }
        );
        for s in &self.steps {
            let tag = match s.status {
                Status::Ok => "OK  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
            };
            let _ = writeln!(out, "  [{tag}] {:<17} {}: {}", s.step, s.target, s.message);
            for d in &s.details {
                let _ = writeln!(out, "         {:<17} {d}", "");
            }
        }
        out
    }
}

//! Where a lookup's time goes between processes: which thread woke which,
//! on which CPU, and how long each part took. Read from `perf record`'s
//! `sched:sched_waking` and `sched:sched_switch` events (all CPUs, time
//! stamps from `CLOCK_MONOTONIC`: `perf record -k CLOCK_MONOTONIC`) over
//! the windows a benchmark timed with the same clock ([`Window`]).
//!
//! A lookup with one search (by name, by UID, of a group) is cut at four
//! wake-ups into five parts ([`Parts`]): the client until the daemon runs
//! (the module's request, the daemon's wake-up), the daemon until it wakes
//! the directory server (its search written), the server until it wakes
//! the daemon (its answer written), the daemon until it wakes the client
//! (its reply written), and the client until its lookup returns.

use std::collections::BTreeMap;

/// A scheduler event, as `perf script -F comm,tid,cpu,time,event,trace
/// --ns` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Time stamp in nanoseconds (the recording's clock).
    pub ns: u64,
    /// The CPU it happened on.
    pub cpu: u32,
    /// The thread running there (the waker, for a wake-up).
    pub tid: u32,
    /// That thread's name.
    pub comm: String,
    /// What happened.
    pub what: What,
}

/// The kinds of [`Event`] read.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// `sched_waking`: thread `tid` (named `comm`) is woken.
    Waking { comm: String, tid: u32 },
    /// `sched_switch`: thread `next_tid` (named `next_comm`) starts to run.
    Switch { next_comm: String, next_tid: u32 },
}

/// One line of `perf script` output; `None` for other events and lines
/// not in that form.
pub fn parse_line(line: &str) -> Option<Event> {
    let (head, rest) = line.split_once(" sched:")?;
    let (event, trace) = rest.split_once(':')?;
    // head: "COMM TID [CPU] SECONDS.NANOS:" (COMM may hold spaces).
    let words: Vec<&str> = head.split_whitespace().collect();
    let [comm @ .., tid, cpu, time] = &words[..] else {
        return None;
    };
    if comm.is_empty() {
        return None;
    }
    let comm = comm.join(" ");
    let cpu = cpu.strip_prefix('[')?.strip_suffix(']')?;
    let (secs, nanos) = time.strip_suffix(':')?.split_once('.')?;
    if nanos.len() != 9 {
        return None;
    }
    let ns = secs.parse::<u64>().ok()? * 1_000_000_000 + nanos.parse::<u64>().ok()?;
    let trace = trace.trim();
    let what = match event {
        "sched_waking" => What::Waking {
            comm: between(trace, "comm=", " pid=")?.to_string(),
            tid: field(trace, " pid=")?.parse().ok()?,
        },
        "sched_switch" => {
            let (_, next) = trace.split_once(" ==> ")?;
            What::Switch {
                next_comm: between(next, "next_comm=", " next_pid=")?.to_string(),
                next_tid: field(next, " next_pid=")?.parse().ok()?,
            }
        }
        _ => return None,
    };
    Some(Event {
        ns,
        cpu: cpu.parse().ok()?,
        tid: tid.parse().ok()?,
        comm,
        what,
    })
}

/// The text after `start` (at the beginning of `s`) up to `end`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let s = s.strip_prefix(start)?;
    Some(&s[..s.find(end)?])
}

/// The value of the field that `key` (" name=") begins: up to the next
/// space.
fn field<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let v = &s[s.find(key)? + key.len()..];
    Some(v.split(' ').next().unwrap_or(v))
}

/// One timed lookup: the client thread `client` asked the daemon whose
/// threads are named `daemon` (a prefix: `rosterd`, `nslcd`) between
/// `start_ns` and `end_ns`.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub client: u32,
    pub daemon: String,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// A lookup's five parts, in nanoseconds (they add up to its window), and
/// where they ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    /// From the window's start until the daemon thread woken by the
    /// client runs.
    pub to_daemon: u64,
    /// From then until the daemon wakes the directory server.
    pub daemon_request: u64,
    /// From then until the server wakes the daemon.
    pub directory: u64,
    /// From then until the daemon wakes the client.
    pub daemon_answer: u64,
    /// From then until the window's end.
    pub to_client: u64,
    /// The server's first wake-up of one of its own threads (a listener
    /// handing the request to a worker) made it run on another CPU than
    /// the waker's; `None` when there was none (or it did not run in the
    /// window).
    pub directory_handoff_elsewhere: Option<bool>,
    /// The daemon's thread woken by the server ran on another CPU than
    /// the one the client woke.
    pub daemon_moved: bool,
}

/// [`Parts`] of `w` from `events` (sorted by time), the directory
/// server's threads named `directory`; `None` when one of the four
/// wake-ups is not in the window (the lookup went another way: answered
/// from a cache, or made more than one search).
pub fn parts(events: &[Event], w: &Window, directory: &str) -> Option<Parts> {
    let from = events.partition_point(|e| e.ns < w.start_ns);
    let to = events.partition_point(|e| e.ns <= w.end_ns);
    let mut it = events[from..to].iter();
    let is_daemon = |comm: &str| comm.starts_with(w.daemon.as_str());
    // The client wakes a daemon thread, which then runs.
    let (woken, _) = next_waking(&mut it, |e, comm, _| e.tid == w.client && is_daemon(comm))?;
    let (request_ns, request_cpu) = next_run(&mut it, woken)?;
    // The daemon wakes the server.
    let (_, sent_ns) = next_waking(&mut it, |e, comm, _| {
        is_daemon(&e.comm) && comm == directory
    })?;
    // The server wakes the daemon; a hand-over between its own threads
    // (the wakee's thread, the waker's CPU, the time) may come first.
    let mut handoff = None;
    let (woken, answered_ns) = next_waking(&mut it, |e, comm, tid| {
        if e.comm == directory && comm == directory && handoff.is_none() {
            handoff = Some((tid, e.cpu, e.ns));
        }
        e.comm == directory && is_daemon(comm)
    })?;
    let (_, answer_cpu) = next_run(&mut it.clone(), woken)?;
    // The daemon wakes the client.
    let (_, replied_ns) = next_waking(&mut it, |e, _, tid| is_daemon(&e.comm) && tid == w.client)?;
    // Where the hand-over's wakee ran (a waking event names the thread's
    // last CPU, not the one it is then placed on).
    let directory_handoff_elsewhere = handoff.and_then(|(tid, cpu, ns)| {
        let mut after = events[from..to].iter().filter(|e| e.ns >= ns);
        next_run(&mut after, tid).map(|(_, ran)| ran != cpu)
    });
    Some(Parts {
        to_daemon: request_ns - w.start_ns,
        daemon_request: sent_ns - request_ns,
        directory: answered_ns - sent_ns,
        daemon_answer: replied_ns - answered_ns,
        to_client: w.end_ns - replied_ns,
        directory_handoff_elsewhere,
        daemon_moved: answer_cpu != request_cpu,
    })
}

/// The next wake-up `pick` (event, wakee's name and thread) accepts: the
/// wakee's thread and the time.
fn next_waking<'a>(
    it: &mut impl Iterator<Item = &'a Event>,
    mut pick: impl FnMut(&Event, &str, u32) -> bool,
) -> Option<(u32, u64)> {
    it.find_map(|e| match &e.what {
        What::Waking { comm, tid } if pick(e, comm, *tid) => Some((*tid, e.ns)),
        _ => None,
    })
}

/// When and where thread `tid` next starts to run.
fn next_run<'a>(it: &mut impl Iterator<Item = &'a Event>, tid: u32) -> Option<(u64, u32)> {
    it.find_map(|e| match &e.what {
        What::Switch { next_tid, .. } if *next_tid == tid => Some((e.ns, e.cpu)),
        _ => None,
    })
}

/// The medians of many lookups' [`Parts`], in µs, and the shares of
/// lookups whose server handed over to another CPU and whose daemon
/// moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Lookups summarised.
    pub lookups: usize,
    /// Medians of the five parts, in the order of [`Parts`], in µs.
    pub medians_us: [f64; 5],
    /// Share of the lookups (0–1) with a hand-over on another CPU.
    pub handoff_elsewhere: f64,
    /// Share of the lookups (0–1) whose daemon moved.
    pub daemon_moved: f64,
}

/// [`Summary`] of `parts`; `None` when there are none.
pub fn summarise(parts: &[Parts]) -> Option<Summary> {
    if parts.is_empty() {
        return None;
    }
    let us = |f: fn(&Parts) -> u64| {
        let mut v: Vec<f64> = parts.iter().map(|p| f(p) as f64 / 1000.0).collect();
        crate::stats::median(&mut v)
    };
    let share =
        |f: fn(&Parts) -> bool| parts.iter().filter(|p| f(p)).count() as f64 / parts.len() as f64;
    Some(Summary {
        lookups: parts.len(),
        medians_us: [
            us(|p| p.to_daemon),
            us(|p| p.daemon_request),
            us(|p| p.directory),
            us(|p| p.daemon_answer),
            us(|p| p.to_client),
        ],
        handoff_elsewhere: share(|p| p.directory_handoff_elsewhere == Some(true)),
        daemon_moved: share(|p| p.daemon_moved),
    })
}

/// The parts' names, for tables, in the order of [`Summary::medians_us`].
pub const PART_NAMES: [&str; 5] = [
    "the client until the daemon runs",
    "the daemon until its search is written",
    "the directory until its answer is written",
    "the daemon until its reply is written",
    "the client until its lookup returns",
];

/// Events of `text` (`perf script` output), sorted by time.
pub fn parse_events(text: &str) -> Vec<Event> {
    let mut events: Vec<Event> = text.lines().filter_map(parse_line).collect();
    events.sort_by_key(|e| e.ns);
    events
}

/// [`Parts`] of each window of `windows` (labelled by row), grouped by
/// label; windows whose lookup went another way are counted in the
/// second map.
pub fn parts_by_label(
    events: &[Event],
    windows: &[(String, Window)],
    directory: &str,
) -> (BTreeMap<String, Vec<Parts>>, BTreeMap<String, usize>) {
    let mut found: BTreeMap<String, Vec<Parts>> = BTreeMap::new();
    let mut missed: BTreeMap<String, usize> = BTreeMap::new();
    for (label, w) in windows {
        match parts(events, w, directory) {
            Some(p) => found.entry(label.clone()).or_default().push(p),
            None => *missed.entry(label.clone()).or_default() += 1,
        }
    }
    (found, missed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waking(ns: u64, cpu: u32, tid: u32, comm: &str, wakee: &str, wtid: u32) -> String {
        format!(
            "{comm:>16} {tid:>6} [{cpu:03}] {}.{:09}:       sched:sched_waking: comm={wakee} pid={wtid} prio=120 target_cpu={cpu:03}",
            ns / 1_000_000_000,
            ns % 1_000_000_000
        )
    }

    fn switch(ns: u64, cpu: u32, tid: u32, comm: &str, next: &str, ntid: u32) -> String {
        format!(
            "{comm:>16} {tid:>6} [{cpu:03}] {}.{:09}:       sched:sched_switch: prev_comm={comm} prev_pid={tid} prev_prio=120 prev_state=S ==> next_comm={next} next_pid={ntid} next_prio=120",
            ns / 1_000_000_000,
            ns % 1_000_000_000
        )
    }

    #[test]
    fn lines_as_perf_script_prints_them() {
        let e = parse_line(
            "     Web Content    18 [001] 67742.737123303:       sched:sched_waking: comm=perf x pid=15057 prio=120 target_cpu=000",
        )
        .unwrap();
        assert_eq!(
            e,
            Event {
                ns: 67_742_737_123_303,
                cpu: 1,
                tid: 18,
                comm: "Web Content".into(),
                what: What::Waking {
                    comm: "perf x".into(),
                    tid: 15057,
                }
            }
        );
        let e = parse_line(
            "            perf 15057 [000] 67742.737120970:       sched:sched_switch: prev_comm=perf prev_pid=15057 prev_prio=120 prev_state=D ==> next_comm=migration/0 next_pid=18 next_prio=0",
        )
        .unwrap();
        assert_eq!(
            e.what,
            What::Switch {
                next_comm: "migration/0".into(),
                next_tid: 18
            }
        );
        assert_eq!((e.ns, e.cpu, e.tid), (67_742_737_120_970, 0, 15057));
        // Other events, microsecond stamps and other lines are not read.
        assert!(parse_line(
            "            perf 15057 [000] 67742.737119070:       sched:sched_wakeup: comm=migration/0 pid=18 prio=0 target_cpu=000"
        )
        .is_none());
        assert!(parse_line(
            "            perf 15057 [000] 67742.737119:       sched:sched_waking: comm=a pid=18 prio=0 target_cpu=000"
        )
        .is_none());
        assert!(parse_line("").is_none());
    }

    /// A lookup: client 100 wakes rosterd (200) on CPU 0, rosterd wakes
    /// slapd's listener (300), which hands over to a worker (301) that
    /// runs on CPU 1 and wakes rosterd there; rosterd wakes the client.
    fn lookup_text(base: u64) -> Vec<String> {
        vec![
            waking(base + 1_000, 0, 100, "paired", "rosterd", 200),
            switch(base + 3_000, 0, 100, "paired", "rosterd", 200),
            // Other threads' events are not the lookup's.
            waking(base + 4_000, 1, 7, "kworker", "rosterd", 200),
            waking(base + 10_000, 0, 200, "rosterd", "slapd", 300),
            switch(base + 12_000, 0, 200, "rosterd", "slapd", 300),
            waking(base + 13_000, 0, 300, "slapd", "slapd", 301),
            switch(base + 20_000, 1, 0, "swapper/1", "slapd", 301),
            waking(base + 50_000, 1, 301, "slapd", "rosterd", 200),
            switch(base + 52_000, 1, 301, "slapd", "rosterd", 200),
            waking(base + 60_000, 1, 200, "rosterd", "roster-store", 400),
            waking(base + 70_000, 1, 200, "rosterd", "paired", 100),
        ]
    }

    #[test]
    fn a_lookup_is_cut_at_its_four_wake_ups() {
        let base = 5_000_000_000;
        let events = parse_events(&lookup_text(base).join("\n"));
        assert_eq!(events.len(), 11);
        let w = Window {
            client: 100,
            daemon: "rosterd".into(),
            start_ns: base,
            end_ns: base + 75_000,
        };
        let p = parts(&events, &w, "slapd").unwrap();
        assert_eq!(
            p,
            Parts {
                to_daemon: 3_000,
                daemon_request: 7_000,
                directory: 40_000,
                daemon_answer: 20_000,
                to_client: 5_000,
                directory_handoff_elsewhere: Some(true),
                daemon_moved: true,
            }
        );
        // Another daemon, or a window that ends before the reply, is not
        // this lookup.
        let nslcd = Window {
            daemon: "nslcd".into(),
            ..w.clone()
        };
        assert!(parts(&events, &nslcd, "slapd").is_none());
        let cut = Window {
            end_ns: base + 65_000,
            ..w.clone()
        };
        assert!(parts(&events, &cut, "slapd").is_none());
        let s = summarise(&[p.clone(), p]).unwrap();
        assert_eq!(s.lookups, 2);
        assert_eq!(s.medians_us, [3.0, 7.0, 40.0, 20.0, 5.0]);
        assert_eq!((s.handoff_elsewhere, s.daemon_moved), (1.0, 1.0));
        let (found, missed) =
            parts_by_label(&events, &[("a".into(), w), ("b".into(), cut)], "slapd");
        assert_eq!((found["a"].len(), missed["b"]), (1, 1));
    }
}

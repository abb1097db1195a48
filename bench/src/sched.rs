//! Where a lookup's time goes between processes: which thread woke which,
//! on which CPU, and how long each part took. Read from `perf record`'s
//! `sched:sched_waking` and `sched:sched_switch` events (all CPUs, time
//! stamps from `CLOCK_MONOTONIC`: `perf record -k CLOCK_MONOTONIC`) over
//! the windows a benchmark timed with the same clock ([`Window`]).
//!
//! A lookup with one search (by name, by UID, of a group) is cut at four
//! wake-ups into five parts ([`Parts`]): the client until the daemon runs
//! (the module's request, the daemon's wake-up), the daemon until it wakes
//! the directory server (its search written), the server until its last
//! wake-up of the daemon before the reply (its answer written: a server
//! may write an entry and the search's result apart, and a daemon may
//! wait for both), the daemon until it wakes the client (its reply
//! written), and the client until its lookup returns. Processes are told
//! apart by PID, threads by thread ID.

use std::collections::{BTreeMap, HashMap};

/// A scheduler event, as `perf script -F comm,pid,tid,cpu,time,event,trace
/// --ns` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Time stamp in nanoseconds (the recording's clock).
    pub ns: u64,
    /// The CPU it happened on.
    pub cpu: u32,
    /// The process of the thread running there (the waker, for a
    /// wake-up; the thread switched out, for a switch).
    pub pid: u32,
    /// That thread.
    pub tid: u32,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`Event`] read.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// `sched_waking`: a thread is woken.
    Waking {
        /// The thread woken.
        tid: u32,
    },
    /// `sched_switch`: a thread starts to run.
    Switch {
        /// The thread switched to.
        next_tid: u32,
    },
}

/// One line of `perf script` output; `None` for other events and lines
/// not in that form.
pub fn parse_line(line: &str) -> Option<Event> {
    let (head, rest) = line.split_once(" sched:")?;
    let (event, trace) = rest.split_once(':')?;
    // head: "COMM PID/TID [CPU] SECONDS.NANOS:" (COMM may hold spaces).
    let words: Vec<&str> = head.split_whitespace().collect();
    let [_, .., ids, cpu, time] = &words[..] else {
        return None;
    };
    let (pid, tid) = ids.split_once('/')?;
    let cpu = cpu.strip_prefix('[')?.strip_suffix(']')?;
    let (secs, nanos) = time.strip_suffix(':')?.split_once('.')?;
    if nanos.len() != 9 {
        return None;
    }
    let ns = secs.parse::<u64>().ok()? * 1_000_000_000 + nanos.parse::<u64>().ok()?;
    let kind = match event {
        "sched_waking" => EventKind::Waking {
            tid: field(trace, " pid=")?.parse().ok()?,
        },
        "sched_switch" => {
            let (_, next) = trace.split_once(" ==> ")?;
            EventKind::Switch {
                next_tid: field(next, " next_pid=")?.parse().ok()?,
            }
        }
        _ => return None,
    };
    Some(Event {
        ns,
        cpu: cpu.parse().ok()?,
        pid: pid.parse().ok()?,
        tid: tid.parse().ok()?,
        kind,
    })
}

/// The value of the field that `key` (" name=") begins: up to the next
/// space.
fn field<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let v = &s[s.find(key)? + key.len()..];
    Some(v.split(' ').next().unwrap_or(v))
}

/// Events of `text` (`perf script` output), sorted by time.
pub fn parse_events(text: &str) -> Vec<Event> {
    let mut events: Vec<Event> = text.lines().filter_map(parse_line).collect();
    events.sort_by_key(|e| e.ns);
    events
}

/// The process of each thread seen running in `events` (a thread that
/// wakes another or is switched out), by thread ID.
pub fn processes(events: &[Event]) -> HashMap<u32, u32> {
    events.iter().map(|e| (e.tid, e.pid)).collect()
}

/// One timed lookup: thread `client_tid` asked the daemon of PID
/// `daemon_pid` between `start_ns` and `end_ns` (the recording's clock).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The thread that made the lookup.
    pub client_tid: u32,
    /// The daemon asked.
    pub daemon_pid: u32,
    /// When the lookup began.
    pub start_ns: u64,
    /// When it returned.
    pub end_ns: u64,
}

/// A lookup's five parts, in nanoseconds (they add up to its window), and
/// where they ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    /// From the window's start until the daemon thread the client woke
    /// last before the daemon wrote its search runs (a daemon whose
    /// threads a connection wakes first, as nslcd's, has them run
    /// before).
    pub to_daemon: u64,
    /// From then until the daemon wakes the directory server.
    pub daemon_request: u64,
    /// From then until the server's last wake-up of the daemon before
    /// the reply.
    pub directory: u64,
    /// From then until the daemon wakes the client.
    pub daemon_answer: u64,
    /// From then until the window's end.
    pub to_client: u64,
    /// How many times the server woke the daemon in between.
    pub directory_wakes: u32,
    /// The server's first wake-up of one of its own threads (a listener
    /// handing the request to a worker) made it run on another CPU than
    /// the waker's; `None` when there was none (or it did not run in the
    /// window).
    pub directory_handoff_elsewhere: Option<bool>,
    /// The daemon's thread woken last by the server ran on another CPU
    /// than the daemon thread the client woke last before the search.
    pub daemon_moved: bool,
}

/// [`Parts`] of `w` from `events` (sorted by time), with the threads'
/// processes `procs` ([`processes`]) and the directory server's PID
/// `directory_pid`; `None` when one of the four wake-ups is not in the
/// window, or a woken thread does not start to run before the next cut
/// (the lookup went another way: the daemon already running, answered
/// from a cache, made no search), or the window is empty.
///
/// The first cut is the client's last wake-up of a daemon thread before
/// the daemon wakes the server: the request's write (a client that
/// connects first, as nslcd's module does, wakes the daemon's threads
/// that wait for connections before it writes).
pub fn parts(
    events: &[Event],
    procs: &HashMap<u32, u32>,
    w: &Window,
    directory_pid: u32,
) -> Option<Parts> {
    if w.end_ns < w.start_ns {
        return None;
    }
    let from = events.partition_point(|e| e.ns < w.start_ns);
    let to = events.partition_point(|e| e.ns <= w.end_ns);
    let window = &events[from..to];
    let process_of = |tid: u32| procs.get(&tid).copied();
    let waking = |e: &Event| match e.kind {
        EventKind::Waking { tid } => Some(tid),
        EventKind::Switch { .. } => None,
    };
    // The daemon wakes the server (its search written).
    let sent_at = window.iter().position(|e| {
        e.pid == w.daemon_pid && waking(e).and_then(process_of) == Some(directory_pid)
    })?;
    // Before that, the client's last wake-up of a daemon thread, which
    // then runs.
    let requested_at = window[..sent_at].iter().rposition(|e| {
        e.tid == w.client_tid && waking(e).and_then(process_of) == Some(w.daemon_pid)
    })?;
    let (request_ns, request_cpu) = run_between(window, requested_at, sent_at)?;
    // Up to the reply: the server's first hand-over between its own
    // threads (event index), and its wake-ups of the daemon (the last
    // one's event index).
    let mut handoff = None;
    let mut answered_at = None;
    let mut directory_wakes = 0;
    let replied_at = (sent_at + 1..window.len()).find(|&k| {
        let e = &window[k];
        let Some(tid) = waking(e) else {
            return false;
        };
        if e.pid == w.daemon_pid && tid == w.client_tid {
            return true;
        }
        if e.pid == directory_pid {
            match process_of(tid) {
                Some(p) if p == directory_pid && handoff.is_none() => handoff = Some(k),
                Some(p) if p == w.daemon_pid => {
                    answered_at = Some(k);
                    directory_wakes += 1;
                }
                _ => {}
            }
        }
        false
    })?;
    let answered_at = answered_at?;
    let (_, answer_cpu) = run_between(window, answered_at, replied_at)?;
    // Where the hand-over's wakee ran (a waking event names the thread's
    // last CPU, not the one it is then placed on).
    let directory_handoff_elsewhere = handoff
        .filter(|&k| k < answered_at)
        .and_then(|k| run_between(window, k, answered_at).map(|(_, ran)| ran != window[k].cpu));
    let ns = |k: usize| window[k].ns;
    Some(Parts {
        to_daemon: request_ns.checked_sub(w.start_ns)?,
        daemon_request: ns(sent_at).checked_sub(request_ns)?,
        directory: ns(answered_at).checked_sub(ns(sent_at))?,
        daemon_answer: ns(replied_at).checked_sub(ns(answered_at))?,
        to_client: w.end_ns.checked_sub(ns(replied_at))?,
        directory_wakes,
        directory_handoff_elsewhere,
        daemon_moved: answer_cpu != request_cpu,
    })
}

/// When and where the thread woken by `window[woke]` starts to run, if
/// it does before `window[until]` (a thread woken while still on its
/// CPU does not switch in).
fn run_between(window: &[Event], woke: usize, until: usize) -> Option<(u64, u32)> {
    let EventKind::Waking { tid } = window[woke].kind else {
        return None;
    };
    window[woke + 1..until].iter().find_map(|e| match e.kind {
        EventKind::Switch { next_tid } if next_tid == tid => Some((e.ns, e.cpu)),
        _ => None,
    })
}

/// The medians of many lookups' [`Parts`], in µs, and shares of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Lookups summarised.
    pub lookups: usize,
    /// Medians of the five parts, in the order of [`PART_NAMES`], in µs.
    pub medians_us: [f64; 5],
    /// Share of the lookups (0–1) whose server woke the daemon more than
    /// once.
    pub several_directory_wakes: f64,
    /// Share of the lookups (0–1) whose server's first hand-over ran on
    /// another CPU (a lookup without one counts as not).
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
        several_directory_wakes: share(|p| p.directory_wakes > 1),
        handoff_elsewhere: share(|p| p.directory_handoff_elsewhere == Some(true)),
        daemon_moved: share(|p| p.daemon_moved),
    })
}

/// The parts' names, for tables, in the order of [`Summary::medians_us`].
pub const PART_NAMES: [&str; 5] = [
    "the client until the daemon runs",
    "the daemon until its search is written",
    "the directory until its last wake-up of the daemon",
    "the daemon until its reply is written",
    "the client until its lookup returns",
];

/// [`Parts`] of each window of `windows` (labelled), from `events`
/// (sorted by time), grouped by label; windows whose lookup went another
/// way are counted in the second map.
pub fn parts_by_label(
    events: &[Event],
    windows: &[(String, Window)],
    directory_pid: u32,
) -> (BTreeMap<String, Vec<Parts>>, BTreeMap<String, usize>) {
    // (Threads' processes from the windows' span only: a thread ID may
    // be used again by another process over a long recording.)
    let first = windows.iter().map(|(_, w)| w.start_ns).min().unwrap_or(0);
    let last = windows
        .iter()
        .map(|(_, w)| w.end_ns)
        .max()
        .unwrap_or(0)
        .max(first);
    let span =
        &events[events.partition_point(|e| e.ns < first)..events.partition_point(|e| e.ns <= last)];
    let procs = processes(span);
    let mut found: BTreeMap<String, Vec<Parts>> = BTreeMap::new();
    let mut missed: BTreeMap<String, usize> = BTreeMap::new();
    for (label, w) in windows {
        match parts(events, &procs, w, directory_pid) {
            Some(p) => found.entry(label.clone()).or_default().push(p),
            None => *missed.entry(label.clone()).or_default() += 1,
        }
    }
    (found, missed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process's thread, as the lines name it: (name, PID, TID).
    type Thread = (&'static str, u32, u32);
    const CLIENT: Thread = ("paired", 100, 100);
    const ROSTERD: Thread = ("rosterd", 200, 200);
    const STORE: Thread = ("roster-store", 200, 201);
    const LISTENER: Thread = ("slapd", 300, 300);
    const WORKER: Thread = ("slapd", 300, 301);
    const KWORKER: Thread = ("kworker/u8:0-wr", 7, 7);
    const OTHER: Thread = ("nslcd", 500, 500);

    fn stamp(ns: u64) -> String {
        format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
    }

    /// `waker` wakes `wakee`, on `cpu`.
    fn waking(ns: u64, cpu: u32, waker: Thread, wakee: Thread) -> String {
        let (comm, pid, tid) = waker;
        format!(
            "{comm:>16} {pid:>6}/{tid:<6} [{cpu:03}] {}:       sched:sched_waking: comm={} pid={} prio=120 target_cpu={cpu:03}",
            stamp(ns),
            wakee.0,
            wakee.2
        )
    }

    /// `prev` is switched out for `next`, on `cpu`.
    fn switch(ns: u64, cpu: u32, prev: Thread, next: Thread) -> String {
        let (comm, pid, tid) = prev;
        format!(
            "{comm:>16} {pid:>6}/{tid:<6} [{cpu:03}] {}:       sched:sched_switch: prev_comm={comm} prev_pid={tid} prev_prio=120 prev_state=S ==> next_comm={} next_pid={} next_prio=120",
            stamp(ns),
            next.0,
            next.2
        )
    }

    #[test]
    fn lines_as_perf_script_prints_them() {
        let e = parse_line(
            "     Web Content    18/19    [001] 67742.737123303:       sched:sched_waking: comm=perf x pid=15057 prio=120 target_cpu=000",
        )
        .unwrap();
        assert_eq!(
            e,
            Event {
                ns: 67_742_737_123_303,
                cpu: 1,
                pid: 18,
                tid: 19,
                kind: EventKind::Waking { tid: 15057 }
            }
        );
        let e = parse_line(
            " kworker/u8:0-wr  15057/15058 [000] 67742.737120970:       sched:sched_switch: prev_comm=kworker/u8:0-wr prev_pid=15058 prev_prio=120 prev_state=D ==> next_comm=migration/0 next_pid=18 next_prio=0",
        )
        .unwrap();
        assert_eq!(e.kind, EventKind::Switch { next_tid: 18 });
        assert_eq!(
            (e.ns, e.cpu, e.pid, e.tid),
            (67_742_737_120_970, 0, 15057, 15058)
        );
        // Other events, microsecond stamps, a missing PID and other lines
        // are not read.
        for line in [
            "            perf 15057/15057 [000] 67742.737119070:       sched:sched_wakeup: comm=migration/0 pid=18 prio=0 target_cpu=000",
            "            perf 15057/15057 [000] 67742.737119:       sched:sched_waking: comm=a pid=18 prio=0 target_cpu=000",
            "            perf 15057 [000] 67742.737119070:       sched:sched_waking: comm=a pid=18 prio=0 target_cpu=000",
            "",
        ] {
            assert!(parse_line(line).is_none(), "{line}");
        }
    }

    /// A lookup at `base`: the client wakes rosterd on CPU 0, rosterd
    /// wakes slapd's listener there, which hands over to a worker that
    /// runs on CPU 1 and wakes rosterd, which runs there and wakes the
    /// client.
    fn moved_lookup(base: u64) -> Vec<String> {
        vec![
            // Another process's wake-up of rosterd's other thread is not
            // the request; before the send, wake-ups of rosterd by slapd
            // and of slapd by another process are not the lookup's.
            waking(base + 500, 1, KWORKER, STORE),
            switch(base + 600, 1, KWORKER, STORE),
            switch(base + 700, 1, STORE, KWORKER),
            waking(base + 1_000, 0, CLIENT, ROSTERD),
            // The client's wake-up of another process is not the request.
            waking(base + 2_000, 0, CLIENT, KWORKER),
            switch(base + 3_000, 0, CLIENT, ROSTERD),
            waking(base + 4_000, 1, WORKER, ROSTERD),
            waking(base + 5_000, 1, KWORKER, LISTENER),
            // rosterd's wake-up of its own other thread is not the send.
            waking(base + 6_000, 0, ROSTERD, STORE),
            waking(base + 10_000, 0, ROSTERD, LISTENER),
            // The client's wake-up of a daemon thread after the send is
            // not the request.
            waking(base + 11_000, 0, CLIENT, STORE),
            switch(base + 12_000, 0, ROSTERD, LISTENER),
            // Nor, after it, another process's wake-ups of slapd's
            // threads or of rosterd.
            waking(base + 12_500, 1, KWORKER, WORKER),
            waking(base + 13_000, 0, LISTENER, WORKER),
            switch(base + 20_000, 1, KWORKER, WORKER),
            // Nor slapd's wake-up of another process.
            waking(base + 30_000, 1, WORKER, OTHER),
            switch(base + 31_000, 0, OTHER, KWORKER),
            waking(base + 50_000, 1, WORKER, ROSTERD),
            waking(base + 51_000, 0, KWORKER, ROSTERD),
            switch(base + 52_000, 1, WORKER, ROSTERD),
            // rosterd's other thread is woken first, and the client by
            // another process: not the reply.
            waking(base + 60_000, 1, ROSTERD, STORE),
            waking(base + 65_000, 0, KWORKER, CLIENT),
            waking(base + 70_000, 1, ROSTERD, CLIENT),
            switch(base + 71_000, 1, ROSTERD, STORE),
        ]
    }

    /// A lookup at `base` where the client wakes two daemon threads (a
    /// connection, then the request), slapd writes the entry and the
    /// result apart (two wake-ups of rosterd), its listener on CPU 1
    /// hands over on its own CPU (its later hand-over elsewhere is not
    /// the first), and rosterd stays on CPU 0.
    fn two_wake_lookup(base: u64) -> Vec<String> {
        vec![
            waking(base + 500, 0, CLIENT, STORE),
            switch(base + 600, 1, KWORKER, STORE),
            switch(base + 700, 1, STORE, KWORKER),
            waking(base + 1_000, 0, CLIENT, ROSTERD),
            switch(base + 2_000, 0, CLIENT, ROSTERD),
            waking(base + 8_000, 0, ROSTERD, LISTENER),
            switch(base + 9_000, 1, KWORKER, LISTENER),
            waking(base + 10_000, 1, LISTENER, WORKER),
            switch(base + 11_000, 1, LISTENER, WORKER),
            waking(base + 30_000, 1, WORKER, ROSTERD),
            switch(base + 31_000, 0, KWORKER, ROSTERD),
            waking(base + 32_000, 1, WORKER, LISTENER),
            switch(base + 33_000, 0, ROSTERD, LISTENER),
            switch(base + 35_000, 0, LISTENER, KWORKER),
            waking(base + 40_000, 1, WORKER, ROSTERD),
            switch(base + 41_000, 0, KWORKER, ROSTERD),
            waking(base + 50_000, 0, ROSTERD, CLIENT),
        ]
    }

    fn window(start_ns: u64, end_ns: u64) -> Window {
        Window {
            client_tid: CLIENT.2,
            daemon_pid: ROSTERD.1,
            start_ns,
            end_ns,
        }
    }

    #[test]
    fn a_lookup_is_cut_at_its_four_wake_ups() {
        let (a, b) = (5_000_000_000, 6_000_000_000);
        let mut lines = moved_lookup(a);
        lines.extend(two_wake_lookup(b));
        lines.reverse();
        let events = parse_events(&lines.join("\n"));
        let procs = processes(&events);
        let moved = parts(&events, &procs, &window(a, a + 75_000), LISTENER.1).unwrap();
        assert_eq!(
            moved,
            Parts {
                to_daemon: 3_000,
                daemon_request: 7_000,
                directory: 40_000,
                daemon_answer: 20_000,
                to_client: 5_000,
                directory_wakes: 1,
                directory_handoff_elsewhere: Some(true),
                daemon_moved: true,
            }
        );
        let two = parts(&events, &procs, &window(b, b + 52_000), LISTENER.1).unwrap();
        assert_eq!(
            two,
            Parts {
                to_daemon: 2_000,
                daemon_request: 6_000,
                directory: 32_000,
                daemon_answer: 10_000,
                to_client: 2_000,
                directory_wakes: 2,
                directory_handoff_elsewhere: Some(false),
                daemon_moved: false,
            }
        );
        // Another daemon, another server, a window that ends before the
        // reply or one that ends before it starts is not such a lookup.
        let other_daemon = Window {
            daemon_pid: 999,
            ..window(a, a + 75_000)
        };
        assert!(parts(&events, &procs, &other_daemon, LISTENER.1).is_none());
        assert!(parts(&events, &procs, &window(a, a + 75_000), 999).is_none());
        assert!(parts(&events, &procs, &window(a, a + 65_000), LISTENER.1).is_none());
        assert!(parts(&events, &procs, &window(a + 800, a + 600), LISTENER.1).is_none());
        let s = summarise(&[moved.clone(), two.clone(), two]).unwrap();
        assert_eq!(s.lookups, 3);
        assert_eq!(s.medians_us, [2.0, 6.0, 32.0, 10.0, 2.0]);
        assert_eq!(
            (
                s.several_directory_wakes,
                s.handoff_elsewhere,
                s.daemon_moved
            ),
            (2.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0)
        );
        let (found, missed) = parts_by_label(
            &events,
            &[
                ("a".into(), window(a, a + 75_000)),
                ("b".into(), window(a, a + 65_000)),
            ],
            LISTENER.1,
        );
        assert_eq!((&found["a"], missed["b"]), (&vec![moved], 1));
    }

    /// The start of a lookup from 0: the client's request wakes rosterd
    /// on CPU 0, its search slapd's listener on CPU 1, which wakes
    /// rosterd with the answer at 30 µs, without a hand-over.
    fn answered_on_the_listener() -> Vec<String> {
        vec![
            waking(1_000, 0, CLIENT, ROSTERD),
            switch(2_000, 0, CLIENT, ROSTERD),
            waking(8_000, 0, ROSTERD, LISTENER),
            switch(9_000, 1, KWORKER, LISTENER),
            waking(30_000, 1, LISTENER, ROSTERD),
        ]
    }

    /// A thread woken while still on its CPU does not switch in: the
    /// lookup is not cut (its later run is not the one the cut needs).
    #[test]
    fn a_thread_woken_while_on_its_cpu_is_not_cut() {
        // rosterd, still on CPU 0, is woken by the answer and replies.
        let mut lines = answered_on_the_listener();
        lines.extend([
            waking(50_000, 0, ROSTERD, CLIENT),
            switch(55_000, 0, ROSTERD, KWORKER),
            switch(60_000, 1, LISTENER, ROSTERD),
        ]);
        let events = parse_events(&lines.join("\n"));
        assert!(parts(&events, &processes(&events), &window(0, 70_000), LISTENER.1).is_none());
    }

    /// A thread ID another process uses after the windows does not move
    /// the lookups' threads to it; no windows, or a reversed one, cut
    /// nothing.
    #[test]
    fn threads_belong_to_their_process_of_the_windows_span() {
        let a = 5_000_000_000;
        let mut lines = moved_lookup(a);
        lines.push(waking(a + 500_000, 0, ("reused", 900, ROSTERD.2), KWORKER));
        let events = parse_events(&lines.join("\n"));
        let (found, missed) =
            parts_by_label(&events, &[("a".into(), window(a, a + 75_000))], LISTENER.1);
        assert_eq!((found["a"].len(), missed.len()), (1, 0));
        let (found, missed) = parts_by_label(&events, &[], LISTENER.1);
        assert!(found.is_empty() && missed.is_empty());
        let (found, missed) = parts_by_label(
            &events,
            &[("r".into(), window(a + 800, a + 600))],
            LISTENER.1,
        );
        assert_eq!((found.len(), missed["r"]), (0, 1));
    }

    /// Without a hand-over between the server's threads, there is none
    /// to place.
    #[test]
    fn a_server_that_answers_on_its_own_thread_hands_nothing_over() {
        let mut lines = answered_on_the_listener();
        lines.extend([
            switch(31_000, 0, KWORKER, ROSTERD),
            // A hand-over after the answer is not the request's.
            waking(40_000, 1, LISTENER, WORKER),
            switch(42_000, 1, LISTENER, WORKER),
            switch(45_000, 1, WORKER, KWORKER),
            waking(50_000, 0, ROSTERD, CLIENT),
        ]);
        let events = parse_events(&lines.join("\n"));
        let p = parts(&events, &processes(&events), &window(0, 60_000), LISTENER.1).unwrap();
        assert_eq!(p.directory_handoff_elsewhere, None);
        assert!(!p.daemon_moved);
    }
}

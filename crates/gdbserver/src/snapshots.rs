//! The snapshots a debugging session keeps, and which one reaches a given
//! position with the least replay.
//!
//! Three kinds. An event snapshot is the replay right after event N, every
//! thread between two events: that state is the same however the debugger
//! got there, so it serves every position at or after event N. A stretch
//! snapshot is taken inside a long stretch of user code between two events,
//! where nothing names the point: positions after it are described as
//! operations starting from it (`Op::From`), and it is kept as long as one
//! of those is in use. The replay takes both kinds by itself at intervals
//! of replay time. A position snapshot is the replay where a debugger
//! operation left it (a breakpoint stop, a step); it serves positions whose
//! operations start with the same ones.

use crate::timeline::Op;
use replayer::{ReplaySession, RunStop};
use std::time::Duration;

/// What a snapshot is a copy of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Right after this many events, every thread between two events.
    Event(u64),
    /// Where these operations from the start lead.
    Path(Vec<Op>),
    /// Inside a stretch of user code; paths from it start with
    /// `Op::From(id)`.
    Stretch(u64),
}

pub struct Snapshot {
    pub key: Key,
    pub session: ReplaySession,
    /// Events replayed at the snapshot.
    pub events: u64,
    /// The stop the last operation of a position snapshot ended with.
    pub stop: RunStop,
    /// A stretch snapshot was taken while the last of these operations ran.
    pub on_the_way: Vec<Op>,
    /// When it was last used or taken, to drop the stalest position
    /// snapshot first.
    used: u64,
    /// When it was taken.
    taken: u64,
    /// A `monitor checkpoint`: never dropped.
    pub kept: bool,
}

/// Event snapshots are taken this often (replay time) at first; each time
/// their number reaches the limit every other one is dropped and the
/// interval doubles, so they always cover the whole replay evenly.
/// `REPLAY_SNAPSHOT_INTERVAL_MS` overrides it (0: no automatic snapshots).
const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);
/// At most this many event snapshots (`REPLAY_SNAPSHOTS_MAX` overrides it).
const DEFAULT_MAX_EVENT_SNAPSHOTS: usize = 48;
/// At most this many position snapshots.
const MAX_POSITION_SNAPSHOTS: usize = 16;

pub struct Snapshots {
    list: Vec<Snapshot>,
    interval: Option<Duration>,
    max_events: usize,
    clock: u64,
    /// Stretch snapshots that checkpoints start from.
    pinned: std::collections::HashSet<u64>,
    /// The stretch snapshot the current position starts from.
    current: Option<u64>,
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

impl Snapshots {
    pub fn new() -> Snapshots {
        let interval = match env_number("REPLAY_SNAPSHOT_INTERVAL_MS") {
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
            None => Some(DEFAULT_INTERVAL),
        };
        let max_events = env_number("REPLAY_SNAPSHOTS_MAX")
            .map(|n| n.max(2) as usize)
            .unwrap_or(DEFAULT_MAX_EVENT_SNAPSHOTS);
        Snapshots {
            list: Vec::new(),
            interval,
            max_events,
            clock: 0,
            pinned: Default::default(),
            current: None,
        }
    }

    /// How often a replay should copy itself now.
    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// Two lines for `monitor snapshots`.
    pub fn summary(&self) -> (String, String) {
        let count = |f: fn(&Key) -> bool| self.list.iter().filter(|s| f(&s.key)).count();
        let first = format!(
            "{} snapshots: {} at events, {} inside stretches of user code, {} at positions \
             (checkpoints and slow-to-reach stops)",
            self.list.len(),
            count(|k| matches!(k, Key::Event(_))),
            count(|k| matches!(k, Key::Stretch(_))),
            count(|k| matches!(k, Key::Path(_))),
        );
        let second = match self.interval {
            Some(every) => format!(
                "taken every {} ms of replay; at most {} automatic ones (then every other one \
                 goes and the interval doubles) and {MAX_POSITION_SNAPSHOTS} at positions",
                every.as_millis(),
                self.max_events
            ),
            None => "automatic snapshots are off (REPLAY_SNAPSHOT_INTERVAL_MS=0)".into(),
        };
        (first, second)
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// A fresh id for a stretch snapshot.
    pub fn next_id(&mut self) -> u64 {
        self.tick()
    }

    /// Keeps the position snapshot of `path` (if there is one) and the
    /// stretch snapshot `path` starts from for good: a checkpoint.
    pub fn pin(&mut self, path: &[Op]) {
        if let Some(Op::From(id)) = path.first() {
            self.pinned.insert(*id);
        }
        let key = Key::Path(path.to_vec());
        if let Some(s) = self.list.iter_mut().find(|s| s.key == key) {
            s.kept = true;
        }
    }

    /// Keeps the stretch snapshot the current position starts from.
    pub fn set_current(&mut self, path: &[Op]) {
        self.current = match path.first() {
            Some(Op::From(id)) => Some(*id),
            _ => None,
        };
    }

    fn is_pinned(&self, key: &Key) -> bool {
        matches!(key, Key::Stretch(id) if self.pinned.contains(id) || self.current == Some(*id))
    }

    /// Keeps `session` as a snapshot of `key`, unless one is kept already.
    pub fn add(&mut self, key: Key, session: ReplaySession, stop: RunStop, on_the_way: Vec<Op>) {
        if self.list.iter().any(|s| s.key == key) {
            session.finish();
            return;
        }
        let used = self.tick();
        let events = session.position();
        tracing::debug!(?key, events, "snapshot kept");
        self.list.push(Snapshot {
            key,
            session,
            events,
            stop,
            on_the_way,
            used,
            taken: used,
            kept: false,
        });
        self.limit();
    }

    fn limit(&mut self) {
        let automatic = |key: &Key| matches!(key, Key::Event(_) | Key::Stretch(_));
        let count = self.list.iter().filter(|s| automatic(&s.key)).count();
        if count > self.max_events {
            // Every other one, in replay order, keeping the last and those
            // a position starts from.
            let mut order: Vec<(u64, u64, Key)> = self
                .list
                .iter()
                .filter(|s| automatic(&s.key))
                .map(|s| (s.events, s.taken, s.key.clone()))
                .collect();
            order.sort_unstable_by_key(|(events, used, _)| (*events, *used));
            order.pop();
            let drop: Vec<Key> = order
                .into_iter()
                .enumerate()
                .filter(|(i, (_, _, key))| i % 2 == 1 && !self.is_pinned(key))
                .map(|(_, (_, _, key))| key)
                .collect();
            self.remove_where(|key| drop.contains(key));
            self.interval = self.interval.map(|i| i * 2);
        }
        loop {
            let positions: Vec<(u64, usize)> = self
                .list
                .iter()
                .enumerate()
                .filter(|(_, s)| matches!(s.key, Key::Path(_)) && !s.kept)
                .map(|(i, s)| (s.used, i))
                .collect();
            if positions.len() <= MAX_POSITION_SNAPSHOTS {
                break;
            }
            let stalest = positions.iter().min().map(|&(_, i)| i).unwrap_or(0);
            self.list.swap_remove(stalest).session.finish();
        }
    }

    fn remove_where(&mut self, mut doomed: impl FnMut(&Key) -> bool) {
        let mut kept = Vec::with_capacity(self.list.len());
        for snapshot in self.list.drain(..) {
            if doomed(&snapshot.key) {
                snapshot.session.finish();
            } else {
                kept.push(snapshot);
            }
        }
        self.list = kept;
    }

    /// The snapshot that reaches `path` with the least replay, and the
    /// operations left to perform from it.
    pub fn nearest(&self, path: &[Op]) -> Option<(usize, Vec<Op>)> {
        let mut best: Option<(u64, usize, usize, Vec<Op>)> = None;
        for (i, s) in self.list.iter().enumerate() {
            let (rest, depth) = match (&s.key, path.first()) {
                (Key::Path(p), _) if path.starts_with(p) => (path[p.len()..].to_vec(), p.len()),
                // ToEvent(n) from event m <= n replays events m..n only.
                (Key::Event(m), Some(Op::ToEvent(n))) if m <= n => (path.to_vec(), 0),
                (Key::Stretch(id), Some(Op::From(from))) if id == from => (path[1..].to_vec(), 1),
                _ => continue,
            };
            let better = match &best {
                None => true,
                Some((events, best_depth, _, _)) => (s.events, depth) > (*events, *best_depth),
            };
            if better {
                best = Some((s.events, depth, i, rest));
            }
        }
        best.map(|(_, _, i, rest)| (i, rest))
    }

    /// A new replay at snapshot `i`, which stays as it is.
    pub fn fork(&mut self, i: usize) -> Result<(ReplaySession, RunStop), replayer::ReplayError> {
        let used = self.tick();
        let snapshot = &mut self.list[i];
        snapshot.used = used;
        Ok((snapshot.session.fork_session()?, snapshot.stop))
    }

    /// The snapshots (by [`Snapshots::by_id`]'s ids) before the position
    /// `path` leads to, at `events` events, latest first (within one stretch the order is a guess: no
    /// counter says which of two points inside it comes first).
    pub fn before(&self, path: &[Op], events: u64) -> Vec<u64> {
        let mut found: Vec<(u64, u8, u64, usize)> = Vec::new();
        self.collect_before(path, events, &mut found, 0);
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.dedup_by_key(|f| f.3);
        found
            .into_iter()
            .map(|(_, _, _, i)| self.list[i].taken)
            .collect()
    }

    fn collect_before(
        &self,
        path: &[Op],
        events: u64,
        found: &mut Vec<(u64, u8, u64, usize)>,
        depth: usize,
    ) {
        for (i, s) in self.list.iter().enumerate() {
            let (before, rank) = match &s.key {
                Key::Event(m) => (*m <= events, 0),
                Key::Path(p) => (
                    s.events < events || (p.len() < path.len() && path.starts_with(p)),
                    1,
                ),
                // Taken while the last operation that led here ran: before
                // here, which that operation ended at. For a stretch
                // snapshot's own path (depth > 0), that operation had not
                // ended: only one taken during an earlier operation is
                // surely before it.
                Key::Stretch(id) => (
                    s.events < events
                        || path.first() == Some(&Op::From(*id))
                        || (path.starts_with(&s.on_the_way)
                            && (depth == 0 || s.on_the_way.len() < path.len())),
                    1,
                ),
            };
            if before {
                found.push((s.events, rank, s.taken, i));
            }
        }
        // A path that starts from a stretch snapshot comes after whatever
        // came before that snapshot.
        if let (Some(Op::From(id)), true) = (path.first(), depth < 64) {
            if let Some(anchor) = self.list.iter().find(|s| s.key == Key::Stretch(*id)) {
                self.collect_before(&anchor.on_the_way, anchor.events, found, depth + 1);
            }
        }
    }

    /// A snapshot by its id (when it was taken), if it is still kept: a
    /// search that adds snapshots as it goes may drop older ones.
    pub fn by_id(&self, id: u64) -> Option<usize> {
        self.list.iter().position(|s| s.taken == id)
    }

    pub fn get(&self, i: usize) -> &Snapshot {
        &self.list[i]
    }

    /// Ends every snapshot's processes.
    pub fn clear(&mut self) {
        for snapshot in self.list.drain(..) {
            snapshot.session.finish();
        }
    }
}

//! Going back for a preemption point whose memory words never matched.
//!
//! The probe compares the words the recorder's walk wrote and the stack
//! words above rsp. Some of those were never initialised by the program:
//! they hold whatever earlier code left there, and some earlier code leaves
//! bytes that differ between recording and replay (the dynamic linker's
//! lazy-binding trampoline saves the vector registers with `xsavec`, which
//! skips components the CPU's XINUSE bits call unused, and those bits are
//! not part of any state a tracer sees or sets). The point is then missed
//! although registers and flags matched there.
//!
//! The probe counts such near misses. When a thread reaches its next stop
//! without a full match, replay starts again from the beginning (output
//! already printed is not printed twice) and this time takes a near miss:
//! the only one if there was one, else the one with the fewest differing
//! words, found by a second run that scores each. Registers, flags and SSE
//! registers must still match exactly, and every later event is checked as
//! before, so a wrong choice is reported as a divergence, never silently.
//! The choices are saved in the trace (`point-choices`), so that later
//! replays of it take them at once; a replay that fails with saved choices
//! drops them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use trace::event::WatchedWord;

/// How to treat the passes of one recorded preemption point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointChoice {
    /// Score every near miss (how many words differ) to find the closest.
    Score,
    /// Take this near miss (counting from 1) as the point.
    Accept(u64),
    /// Pass over this many full matches and take the next: the first was an
    /// earlier pass that looked the same as the recorded one (a loop that
    /// came back to the same registers and words after changing memory
    /// the probe does not compare), and the replay diverged after it.
    Later(u64),
}

/// What a replay that missed a point needs to go back for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointRetry {
    /// The preemption event's index.
    pub event: u64,
    pub choice: PointChoice,
    /// Events replayed before it: their output was printed already.
    pub replayed: u64,
}

/// Choices made for this process's replays, by trace and event: a debugger
/// that starts a session again (reverse execution) takes the same ones.
static CHOICES: Mutex<Option<HashMap<(PathBuf, u64), PointChoice>>> = Mutex::new(None);

pub(crate) fn choice(trace: &Path, event: u64) -> Option<PointChoice> {
    let choices = CHOICES.lock().unwrap_or_else(|e| e.into_inner());
    choices
        .as_ref()?
        .get(&(trace.to_path_buf(), event))
        .copied()
}

/// Drops the choice for one point (a wrong-pass trial that did not help).
pub(crate) fn forget(trace: &Path, event: u64) {
    let mut choices = CHOICES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(choices) = choices.as_mut() {
        choices.remove(&(trace.to_path_buf(), event));
    }
}

pub(crate) fn remember(trace: &Path, retry: PointRetry) {
    let mut choices = CHOICES.lock().unwrap_or_else(|e| e.into_inner());
    choices
        .get_or_insert_with(HashMap::new)
        .insert((trace.to_path_buf(), retry.event), retry.choice);
}

/// The next attempt after a miss with `passes` near misses, under the
/// choice `tried` (None: the first attempt). None when nothing is left.
pub(crate) fn next_choice(
    tried: Option<PointChoice>,
    passes: u64,
    best_pass: u64,
) -> Option<PointChoice> {
    match tried {
        _ if passes == 0 => None,
        None if passes == 1 => Some(PointChoice::Accept(1)),
        None => Some(PointChoice::Score),
        Some(PointChoice::Score) if best_pass > 0 => Some(PointChoice::Accept(best_pass)),
        Some(_) => None,
    }
}

/// The file in a trace directory that keeps the near misses earlier
/// replays took (`<event> <pass>` lines), so that the next replay of the
/// trace takes them at once instead of going back for them again.
const CHOICES_FILE: &str = "point-choices";

/// Traces whose saved choices this process has read.
static LOADED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Takes the choices an earlier replay of `trace` saved, once per process.
/// True if any came from there.
pub(crate) fn load_saved(trace: &Path) -> bool {
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if loaded.iter().any(|t| t == trace) {
        return false;
    }
    loaded.push(trace.to_path_buf());
    let Ok(text) = std::fs::read_to_string(trace.join(CHOICES_FILE)) else {
        return false;
    };
    let saved: Vec<(u64, PointChoice)> = text.lines().filter_map(parse_choice).collect();
    let mut choices = CHOICES.lock().unwrap_or_else(|e| e.into_inner());
    let choices = choices.get_or_insert_with(HashMap::new);
    for &(event, choice) in &saved {
        choices
            .entry((trace.to_path_buf(), event))
            .or_insert(choice);
    }
    !saved.is_empty()
}

/// One line of the choices file: `<event> <near miss>` or `<event> later
/// <full matches passed over>`.
fn parse_choice(line: &str) -> Option<(u64, PointChoice)> {
    let mut words = line.split_whitespace();
    let event = words.next()?.parse().ok()?;
    let choice = match (words.next()?, words.next()) {
        ("later", Some(n)) => PointChoice::Later(n.parse().ok()?),
        (pass, None) => PointChoice::Accept(pass.parse().ok()?),
        _ => return None,
    };
    match choice {
        PointChoice::Accept(0) | PointChoice::Later(0) => None,
        choice => Some((event, choice)),
    }
}

fn choice_line(event: u64, choice: PointChoice) -> Option<String> {
    match choice {
        PointChoice::Accept(pass) => Some(format!("{event} {pass}\n")),
        PointChoice::Later(n) => Some(format!("{event} later {n}\n")),
        PointChoice::Score => None,
    }
}

/// Saves the near misses this process's replays of `trace` took, where the
/// trace directory can be written (a pack's is temporary; then nothing is
/// kept). A saved choice does not get in the way of a full match: the
/// probe takes one of those first.
pub(crate) fn save(trace: &Path) {
    let lines: String = {
        let choices = CHOICES.lock().unwrap_or_else(|e| e.into_inner());
        let Some(choices) = choices.as_ref() else {
            return;
        };
        let mut taken: Vec<(u64, PointChoice)> = choices
            .iter()
            .filter(|((t, _), _)| t == trace)
            .map(|(&(_, event), &choice)| (event, choice))
            .collect();
        taken.sort_unstable_by_key(|&(event, _)| event);
        taken
            .into_iter()
            .filter_map(|(event, choice)| choice_line(event, choice))
            .collect()
    };
    if lines.is_empty() {
        return;
    }
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = trace.join(format!("{CHOICES_FILE}.{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(lines.as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, trace.join(CHOICES_FILE)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        tracing::debug!(
            "cannot save the preemption points' choices in {}: {e}",
            trace.display()
        );
    }
}

/// Drops the choices saved for `trace`, file and memory: a replay that
/// took them failed, and the next one derives them again.
pub(crate) fn forget_saved(trace: &Path) {
    let _ = std::fs::remove_file(trace.join(CHOICES_FILE));
    let mut choices = CHOICES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(choices) = choices.as_mut() {
        choices.retain(|(t, _), _| t != trace);
    }
}

/// Whether `REPLAY_TEST_SPOIL_POINT=1` is set (read once).
fn spoil_asked() -> bool {
    static ASKED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ASKED.get_or_init(|| std::env::var_os("REPLAY_TEST_SPOIL_POINT").is_some_and(|v| v == "1"))
}

/// `REPLAY_TEST_SPOIL_POINT=1` makes each replay session change the last
/// recorded word of the first preemption point that has words, as an
/// uninitialised stack word would differ: how the end-to-end tests make a
/// point that only going back can take. Tests only.
pub(crate) fn spoil_this_point(done: &mut bool, words: &[WatchedWord]) -> bool {
    if *done || words.is_empty() {
        return false;
    }
    let asked = spoil_asked();
    *done = asked;
    asked
}

/// `words` with the last one's value changed.
pub(crate) fn spoiled(words: &[WatchedWord]) -> Vec<WatchedWord> {
    let mut words = words.to_vec();
    if let Some(last) = words.last_mut() {
        last.value ^= 0x5a;
    }
    words
}

/// Points the replay went back for after a divergence that no near miss
/// explains: one recent point at a time takes its second full match, most
/// recent first; a trial that gets further than the divergence keeps its
/// choice and the search starts again from the new divergence.
#[derive(Debug, Default)]
pub(crate) struct WrongPassSearch {
    /// The divergence the current candidates are tried against.
    diverged_at: u64,
    /// Points still to try, most recent first.
    candidates: Vec<u64>,
    /// The point the running trial passes over a match of.
    trying: Option<u64>,
    started: bool,
}

/// How many recent points one search tries.
const WRONG_PASS_CANDIDATES: usize = 6;

impl WrongPassSearch {
    /// After a replay that diverged at event `at`, having matched the
    /// points `matched` (oldest first) on the way: the point to try next,
    /// if any. Remembers the trial's choice for `trace`.
    pub(crate) fn next_trial(&mut self, trace: &Path, at: u64, matched: &[u64]) -> Option<u64> {
        let progressed = self.trying.is_some() && at > self.diverged_at;
        if let Some(tried) = self.trying.take() {
            if !progressed {
                forget(trace, tried);
            }
        }
        if !self.started || progressed {
            self.started = true;
            self.diverged_at = at;
            self.candidates = matched
                .iter()
                .rev()
                .filter(|&&event| choice(trace, event).is_none())
                .take(WRONG_PASS_CANDIDATES)
                .copied()
                .collect();
            self.candidates.reverse();
        }
        let event = self.candidates.pop()?;
        remember(
            trace,
            PointRetry {
                event,
                choice: PointChoice::Later(1),
                replayed: 0,
            },
        );
        self.trying = Some(event);
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_near_miss_is_taken_at_once_and_several_are_scored_first() {
        assert_eq!(next_choice(None, 0, 0), None);
        assert_eq!(next_choice(None, 1, 0), Some(PointChoice::Accept(1)));
        assert_eq!(next_choice(None, 7, 0), Some(PointChoice::Score));
        assert_eq!(
            next_choice(Some(PointChoice::Score), 7, 3),
            Some(PointChoice::Accept(3))
        );
        assert_eq!(next_choice(Some(PointChoice::Accept(3)), 7, 3), None);
    }

    #[test]
    fn choices_are_kept_per_trace_and_event() {
        let trace = Path::new("/nonexistent/trace-for-choices");
        let retry = PointRetry {
            event: 12,
            choice: PointChoice::Accept(2),
            replayed: 11,
        };
        remember(trace, retry);
        assert_eq!(choice(trace, 12), Some(PointChoice::Accept(2)));
        assert_eq!(choice(trace, 13), None);
        assert_eq!(choice(Path::new("/nonexistent/other"), 12), None);
    }

    /// Recent points are tried one at a time, most recent first, each
    /// trial's choice dropped when it does not get further; one that gets
    /// further is kept, and the search goes on from there.
    #[test]
    fn a_wrong_pass_search_tries_recent_points_and_keeps_progress() {
        let trace = Path::new("/nonexistent/trace-for-wrong-pass");
        let mut search = WrongPassSearch::default();
        assert_eq!(search.next_trial(trace, 100, &[10, 20, 30]), Some(30));
        assert_eq!(choice(trace, 30), Some(PointChoice::Later(1)));
        assert_eq!(search.next_trial(trace, 100, &[10, 20, 30]), Some(20));
        assert_eq!(choice(trace, 30), None);
        // Further than 100: 20's choice stays, the points before the new
        // divergence are the candidates.
        assert_eq!(
            search.next_trial(trace, 150, &[10, 20, 120, 140]),
            Some(140)
        );
        assert_eq!(choice(trace, 20), Some(PointChoice::Later(1)));
        assert_eq!(search.next_trial(trace, 150, &[]), Some(120));
        assert_eq!(search.next_trial(trace, 150, &[]), Some(10));
        assert_eq!(search.next_trial(trace, 150, &[]), None);
        assert_eq!(choice(trace, 10), None);
    }

    #[test]
    fn choices_are_written_and_read_back() {
        for (event, choice) in [(5, PointChoice::Accept(3)), (9, PointChoice::Later(2))] {
            let line = choice_line(event, choice).expect("a line");
            assert_eq!(parse_choice(line.trim_end()), Some((event, choice)));
        }
        assert_eq!(choice_line(1, PointChoice::Score), None);
        assert_eq!(parse_choice("7 later"), None);
        assert_eq!(parse_choice("7 0"), None);
    }
}

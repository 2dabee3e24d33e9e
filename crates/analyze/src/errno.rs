//! errno and signal names, as strace prints them: nix's names, plus the
//! kernel-internal restart codes a stopped syscall can show.

use nix::errno::Errno;
use nix::sys::signal::Signal;
use std::str::FromStr;

/// The codes a syscall interrupted by a signal returns inside the kernel,
/// which a tracer sees at its exit stop and libc never names.
const RESTART: [(i32, &str, &str); 4] = [
    (512, "ERESTARTSYS", "To be restarted if SA_RESTART is set"),
    (513, "ERESTARTNOINTR", "To be restarted"),
    (514, "ERESTARTNOHAND", "To be restarted if no handler"),
    (516, "ERESTART_RESTARTBLOCK", "Interrupted by signal"),
];

/// The highest errno Linux defines (EHWPOISON).
const LAST_ERRNO: i32 = 133;

/// `ENOENT` for 2; `None` for numbers with no name.
pub fn errno_name(errno: i32) -> Option<String> {
    if let Some((_, name, _)) = RESTART.iter().find(|(n, _, _)| *n == errno) {
        return Some(name.to_string());
    }
    match Errno::from_raw(errno) {
        Errno::UnknownErrno => None,
        known => Some(format!("{known:?}")),
    }
}

/// The name, or the number where it has none.
pub fn errno_label(errno: i32) -> String {
    errno_name(errno).unwrap_or_else(|| errno.to_string())
}

/// `ENOENT` -> 2 (also accepts a plain number).
pub fn errno_number(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    if let Some((n, _, _)) = RESTART.iter().find(|(_, s, _)| *s == name) {
        return Some(*n);
    }
    (1..=LAST_ERRNO).find(|&n| errno_name(n).as_deref() == Some(name))
}

/// strerror text, e.g. "No such file or directory" (the C library's, as
/// strace prints it; nix's own descriptions differ).
pub fn errno_message(errno: i32) -> String {
    if let Some((_, _, msg)) = RESTART.iter().find(|(n, _, _)| *n == errno) {
        return (*msg).to_string();
    }
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    // std appends " (os error N)"; strace does not.
    match text.rfind(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// `SIGSEGV` for 11, `SIGRT_3` for realtime signals.
pub fn signal_name(signo: i32) -> String {
    match Signal::try_from(signo) {
        Ok(signal) => signal.as_str().to_string(),
        Err(_) if (32..=64).contains(&signo) => format!("SIGRT_{}", signo - 32),
        Err(_) => signo.to_string(),
    }
}

/// `SIGSEGV`, `SEGV` or `11` -> 11.
pub fn signal_number(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).ok().map(|signal| signal as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(errno_name(2).as_deref(), Some("ENOENT"));
        assert_eq!(errno_name(133).as_deref(), Some("EHWPOISON"));
        assert_eq!(errno_number("EACCES"), Some(13));
        assert_eq!(errno_message(2), "No such file or directory");
        assert_eq!(signal_name(11), "SIGSEGV");
        assert_eq!(signal_number("segv"), Some(11));
        assert_eq!(errno_name(11).as_deref(), Some("EAGAIN"));
        assert_eq!(errno_name(41), None);
        assert_eq!(errno_label(41), "41");
        assert_eq!(errno_name(514).as_deref(), Some("ERESTARTNOHAND"));
        assert_eq!(signal_name(31), "SIGSYS");
        assert_eq!(signal_name(34), "SIGRT_2");
    }
}

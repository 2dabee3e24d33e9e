//! The text of a `/proc` file as a native run would read it, made from
//! the text the kernel shows a recording: whole-file rewrites, so a value
//! may get longer or shorter (`TracerPid:\t0`, `Cpus_allowed_list:\t0-1`).
//! `proc_views` serves the program's reads from the result.

/// Which of the recorder's marks show in a task's status, besides
/// `TracerPid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Marks {
    /// The buffer's seccomp filter, and no filter of the program's own.
    pub seccomp_filter: bool,
    /// no_new_privs the recorder set, and the program did not set itself.
    pub no_new_privs: bool,
}

/// What a native run would show of one recorded task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NativeTask {
    /// Its state where the kernel shows the tracer's `t`: `b'R'`, or
    /// `b'T'` for a task a signal stopped.
    pub state: u8,
    pub marks: Marks,
    /// The CPUs it may run on natively (a `cpu_set_t`'s bytes), where the
    /// recorder's pin shows instead.
    pub native_cpus: Option<Vec<u8>>,
    /// The ptrace stops it made so far: each was a voluntary context
    /// switch a native run does not make.
    pub recorder_stops: u64,
}

/// The tracer's state letter.
const TRACED: u8 = b't';

/// `/proc/PID/status` as `task` would show it natively.
pub(crate) fn status(text: &[u8], task: &NativeTask) -> Vec<u8> {
    // Filters the process inherited (a container's) stay, and with them
    // the mode.
    let other_filters = number(value(text, b"Seccomp_filters:")).map(|n| n.saturating_sub(1));
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|&b| b == b'\n') {
        let (key, rest) = match line.iter().position(|&b| b == b':') {
            Some(colon) => line.split_at(colon + 1),
            None => (line, &b""[..]),
        };
        let old = rest.trim_ascii();
        let new: Option<Vec<u8>> = match key {
            b"State:" if old.first() == Some(&TRACED) => Some(match task.state {
                b'T' => b"T (stopped)".to_vec(),
                _ => b"R (running)".to_vec(),
            }),
            b"TracerPid:" => Some(b"0".to_vec()),
            b"Seccomp:" if task.marks.seccomp_filter && other_filters == Some(0) => {
                number(old).filter(|&mode| mode == 2).map(|_| b"0".to_vec())
            }
            b"Seccomp_filters:" if task.marks.seccomp_filter => {
                other_filters.map(|n| n.to_string().into_bytes())
            }
            b"NoNewPrivs:" if task.marks.no_new_privs => Some(b"0".to_vec()),
            b"Cpus_allowed:" => task
                .native_cpus
                .as_ref()
                .map(|cpus| hex_mask_like(old, cpus)),
            b"Cpus_allowed_list:" => task.native_cpus.as_ref().map(|cpus| cpu_list(cpus)),
            b"voluntary_ctxt_switches:" => number(old)
                .map(|switches| switches.saturating_sub(task.recorder_stops))
                .map(|switches| switches.to_string().into_bytes()),
            _ => None,
        };
        match new {
            Some(value) => {
                out.extend_from_slice(key);
                out.push(b'\t');
                out.extend_from_slice(&value);
                if line.ends_with(b"\n") {
                    out.push(b'\n');
                }
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}

/// `/proc/PID/stat` with the native state letter where the tracer's
/// shows (the third field, after the command in parentheses).
pub(crate) fn stat(text: &[u8], state: u8) -> Vec<u8> {
    let mut out = text.to_vec();
    if let Some(paren) = out.iter().rposition(|&b| b == b')') {
        let at = paren + 2;
        let alone = out.get(at + 1).is_none_or(|&b| b == b' ');
        if out.get(paren + 1) == Some(&b' ') && out.get(at) == Some(&TRACED) && alone {
            out[at] = state;
        }
    }
    out
}

/// `/proc/PID/sched` with the task's `stops` taken out of its voluntary
/// switches and all its switches, each number right-aligned in the
/// column the kernel printed it in.
pub(crate) fn sched(text: &[u8], stops: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|&b| b == b'\n') {
        let colon = line.iter().position(|&b| b == b':');
        let key = colon.map(|colon| line[..colon].trim_ascii());
        let counted = colon.and_then(|colon| number(line[colon + 1..].trim_ascii()));
        let (Some(b"nr_switches" | b"nr_voluntary_switches"), Some(colon), Some(counted)) =
            (key, colon, counted)
        else {
            out.extend_from_slice(line);
            continue;
        };
        let value = counted.saturating_sub(stops).to_string();
        let end = line.len() - usize::from(line.ends_with(b"\n"));
        let width = end - colon - 1;
        out.extend_from_slice(&line[..=colon]);
        out.extend_from_slice(format!("{value:>width$}").as_bytes());
        out.extend_from_slice(&line[end..]);
    }
    out
}

/// `/proc/cpuinfo` without the `hidden` features in its `flags` lines, as
/// a CPU without them shows it.
pub(crate) fn cpuinfo(text: &[u8], hidden: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for line in text.split_inclusive(|&b| b == b'\n') {
        let colon = line.iter().position(|&b| b == b':');
        let Some(colon) = colon.filter(|_| line.starts_with(b"flags")) else {
            out.extend_from_slice(line);
            continue;
        };
        out.extend_from_slice(&line[..=colon]);
        let words = line[colon + 1..].trim_ascii().split(|&b| b == b' ');
        for word in words.filter(|w| !w.is_empty()) {
            if !hidden.iter().any(|h| h.as_bytes() == word) {
                out.push(b' ');
                out.extend_from_slice(word);
            }
        }
        if line.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

/// The value of the `key` line, without the blanks around it.
fn value<'a>(text: &'a [u8], key: &[u8]) -> &'a [u8] {
    text.split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(key))
        .map_or(&b""[..], <[u8]>::trim_ascii)
}

fn number(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn cpu_is_set(cpus: &[u8], cpu: usize) -> bool {
    cpus.get(cpu / 8)
        .is_some_and(|byte| byte & (1 << (cpu % 8)) != 0)
}

/// `cpus` written the way the kernel wrote `like` (`%*pb`: hex digits in
/// groups of eight, most significant first, commas between): the same
/// digits and commas, each digit the mask's.
fn hex_mask_like(like: &[u8], cpus: &[u8]) -> Vec<u8> {
    let mut nibble = 0;
    let mut out: Vec<u8> = like
        .iter()
        .rev()
        .map(|&c| {
            if c == b',' {
                return c;
            }
            let bits = (0..4).filter(|bit| cpu_is_set(cpus, nibble * 4 + bit));
            let digit = bits.fold(0, |d, bit| d | (1 << bit));
            nibble += 1;
            b"0123456789abcdef"[digit]
        })
        .collect();
    out.reverse();
    out
}

/// `cpus` as the kernel lists them (`%*pbl`): `0-3,6`.
fn cpu_list(cpus: &[u8]) -> Vec<u8> {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for cpu in (0..cpus.len() * 8).filter(|&cpu| cpu_is_set(cpus, cpu)) {
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == cpu => *last = cpu,
            _ => ranges.push((cpu, cpu)),
        }
    }
    let text: Vec<String> = ranges
        .iter()
        .map(|&(first, last)| match first == last {
            true => first.to_string(),
            false => format!("{first}-{last}"),
        })
        .collect();
    text.join(",").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &[u8] = b"Name:\tprog\nState:\tt (tracing stop)\nTgid:\t42\nTracerPid:\t1234\n\
Seccomp:\t2\nSeccomp_filters:\t1\nNoNewPrivs:\t1\nCpus_allowed:\t2\nCpus_allowed_list:\t1\nend\n";

    fn task(marks: Marks, native_cpus: Option<Vec<u8>>) -> NativeTask {
        NativeTask {
            state: b'R',
            marks,
            native_cpus,
            recorder_stops: 0,
        }
    }

    #[test]
    fn status_loses_every_mark_of_the_recorder() {
        let all = Marks {
            seccomp_filter: true,
            no_new_privs: true,
        };
        assert_eq!(
            status(STATUS, &task(all, Some(vec![0b11]))),
            b"Name:\tprog\nState:\tR (running)\nTgid:\t42\nTracerPid:\t0\nSeccomp:\t0\n\
Seccomp_filters:\t0\nNoNewPrivs:\t0\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\nend\n"
        );
        let own = status(STATUS, &task(Marks::default(), None));
        assert_eq!(
            own,
            b"Name:\tprog\nState:\tR (running)\nTgid:\t42\nTracerPid:\t0\nSeccomp:\t2\n\
Seccomp_filters:\t1\nNoNewPrivs:\t1\nCpus_allowed:\t2\nCpus_allowed_list:\t1\nend\n"
        );
    }

    #[test]
    fn an_inherited_filter_keeps_the_mode_and_a_stopped_task_shows_t() {
        let marks = Marks {
            seccomp_filter: true,
            no_new_privs: false,
        };
        let text = b"State:\tt (tracing stop)\nSeccomp:\t2\nSeccomp_filters:\t2\n";
        let stopped = NativeTask {
            state: b'T',
            ..task(marks, None)
        };
        assert_eq!(
            status(text, &stopped),
            b"State:\tT (stopped)\nSeccomp:\t2\nSeccomp_filters:\t1\n"
        );
        let sleeping = b"State:\tS (sleeping)\n";
        assert_eq!(status(sleeping, &stopped), sleeping);
    }

    #[test]
    fn the_recorders_stops_are_not_context_switches_of_the_program() {
        let text = b"voluntary_ctxt_switches:\t152\nnonvoluntary_ctxt_switches:\t1\n";
        let native = NativeTask {
            recorder_stops: 150,
            ..task(Marks::default(), None)
        };
        assert_eq!(
            status(text, &native),
            b"voluntary_ctxt_switches:\t2\nnonvoluntary_ctxt_switches:\t1\n"
        );
    }

    #[test]
    fn sched_counts_lose_the_stops_in_their_columns() {
        let text = b"nr_switches                                  :                  160\n\
nr_voluntary_switches                        :                  152\n\
nr_involuntary_switches                      :                    8\n";
        assert_eq!(
            sched(text, 150),
            b"nr_switches                                  :                   10\n\
nr_voluntary_switches                        :                    2\n\
nr_involuntary_switches                      :                    8\n"
        );
    }

    #[test]
    fn cpu_masks_keep_the_kernels_layout() {
        assert_eq!(hex_mask_like(b"2", &[0b11]), b"3");
        assert_eq!(
            hex_mask_like(b"00,00000001", &[0xff, 0, 0, 0, 0x01]),
            b"01,000000ff"
        );
        assert_eq!(cpu_list(&[0b0100_1111]), b"0-3,6");
        assert_eq!(cpu_list(&[0, 0b1]), b"8");
    }

    #[test]
    fn stat_shows_the_native_letter() {
        assert_eq!(stat(b"42 (a) b) t 1 2 3\n", b'T'), b"42 (a) b) T 1 2 3\n");
        assert_eq!(stat(b"42 (x) S 1\n", b'T'), b"42 (x) S 1\n");
    }

    #[test]
    fn hidden_flags_are_gone_from_cpuinfo() {
        let text = b"model\t: 1\nflags\t\t: fpu rdrand sse rdseed\nbogomips: rdrand\n";
        let hidden = ["rdrand".to_string(), "rdseed".to_string()];
        assert_eq!(
            cpuinfo(text, &hidden),
            b"model\t: 1\nflags\t\t: fpu sse\nbogomips: rdrand\n"
        );
    }
}

//! The filter SPEC language shared by `dump --filter`, reports and
//! interactive breakpoints. Grammar and semantics: docs/filter-spec.md.
//!
//! A spec is a conjunction of clauses joined by `&&` (an ` if ` reads the
//! same, BCC-trace style: `syscall:read if ret > 1024`). Every clause must
//! match for the spec to match.

use syscall_model::{Classes, TaskEffect};
use trace::RecordedTid;

use crate::decode::structs::SockAddr;
use crate::errno::{errno_number, signal_number};
use crate::pairing::SyscallRecord;

/// A spec that could not be parsed; the message is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad filter {spec:?}: {reason}")]
pub struct FilterError {
    pub spec: String,
    pub reason: String,
}

/// What a filter is matched against: one event, with the context the
/// consumer already tracks (process name, paths and addresses involved).
#[derive(Debug, Clone, Copy)]
pub struct EventView<'a> {
    pub index: u64,
    pub pid: RecordedTid,
    pub tid: RecordedTid,
    pub kind: ViewKind<'a>,
    /// Short name of the process (basename of what it exec'd last).
    pub comm: Option<&'a str>,
    /// Paths the event touched (path arguments and descriptor paths).
    pub paths: &'a [String],
    /// Socket addresses the event involved.
    pub addrs: &'a [SockAddr],
}

#[derive(Debug, Clone, Copy)]
pub enum ViewKind<'a> {
    Syscall(&'a SyscallRecord),
    Signal(i32),
    TaskStart,
    TaskExit(i32),
    /// The recorder preempted the thread in user code.
    Preempt,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    Arg(usize),
    Ret,
    Errno,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Clause {
    Syscalls(Vec<u64>),
    Classes(Classes),
    File(String),
    NetCall(Vec<u64>),
    NetAddr { ip: String, port: Option<u16> },
    Signal(Option<i32>),
    Event(u64),
    Pid(RecordedTid),
    Exec,
    Exit,
    Preempt,
    Comm(String),
    Cond(Operand, Op, i64),
}

/// A parsed filter spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    clauses: Vec<Clause>,
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let v = match body.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok()?,
        None => body.parse().ok()?,
    };
    Some(if neg { -v } else { v })
}

fn syscall_list(text: &str) -> Result<Vec<u64>, String> {
    text.split(',')
        .map(|n| syscall_model::number(n.trim()).ok_or_else(|| format!("unknown syscall {n:?}")))
        .collect()
}

fn parse_cond(text: &str) -> Result<Option<Clause>, String> {
    const OPS: [(&str, Op); 6] = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let Some((pos, sym, op)) = OPS
        .iter()
        .filter_map(|(sym, op)| text.find(sym).map(|p| (p, *sym, *op)))
        .min_by_key(|(p, sym, _)| (*p, usize::MAX - sym.len()))
    else {
        return Ok(None);
    };
    let lhs = text[..pos].trim();
    let rhs = text[pos + sym.len()..].trim();
    let operand = match lhs {
        "ret" | "retval" => Operand::Ret,
        "errno" => Operand::Errno,
        l => match l.strip_prefix("arg").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if (1..=6).contains(&n) => Operand::Arg(n - 1),
            _ => {
                return Err(format!(
                    "unknown operand {l:?} (use arg1..arg6, ret, errno)"
                ))
            }
        },
    };
    let value = if operand == Operand::Errno {
        errno_number(rhs).map(i64::from)
    } else {
        parse_int(rhs)
    }
    .ok_or_else(|| format!("bad value {rhs:?}"))?;
    Ok(Some(Clause::Cond(operand, op, value)))
}

fn parse_clause(text: &str) -> Result<Clause, String> {
    if let Some(c) = parse_cond(text)? {
        return Ok(c);
    }
    if text.contains(char::is_whitespace) {
        return Err(format!("cannot read {text:?}"));
    }
    let (key, value) = match text.split_once(':') {
        Some((k, v)) => (k, Some(v)),
        None => (text, None),
    };
    fn need<'a>(key: &str, v: Option<&'a str>) -> Result<&'a str, String> {
        v.filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{key}: needs a value"))
    }
    match key {
        "syscall" => {
            let v = need(key, value)?;
            match Classes::from_name(v) {
                Some(c) if v.starts_with('%') => Ok(Clause::Classes(c)),
                _ => Ok(Clause::Syscalls(syscall_list(v)?)),
            }
        }
        "file" => Ok(Clause::File(need(key, value)?.to_string())),
        "net" => {
            let v = need(key, value)?;
            if v.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && !v.contains('.') {
                return Ok(Clause::NetCall(syscall_list(v)?));
            }
            let (ip, port) = match v.rsplit_once(':') {
                Some((ip, p)) if !ip.is_empty() => (
                    ip.trim_matches(|c| c == '[' || c == ']'),
                    Some(p.parse().map_err(|_| format!("bad port {p:?}"))?),
                ),
                _ => (v, None),
            };
            Ok(Clause::NetAddr {
                ip: ip.to_string(),
                port,
            })
        }
        "signal" => match value {
            None | Some("") => Ok(Clause::Signal(None)),
            Some(v) => signal_number(v)
                .map(|n| Clause::Signal(Some(n)))
                .ok_or_else(|| format!("unknown signal {v:?}")),
        },
        "event" => need(key, value)?
            .parse()
            .map(Clause::Event)
            .map_err(|_| "event: needs a number".to_string()),
        "pid" => need(key, value)?
            .parse()
            .map(|pid| Clause::Pid(RecordedTid(pid)))
            .map_err(|_| "pid: needs a number".to_string()),
        "comm" => Ok(Clause::Comm(need(key, value)?.to_string())),
        "exec" if value.is_none() => Ok(Clause::Exec),
        "exit" if value.is_none() => Ok(Clause::Exit),
        "preempt" if value.is_none() => Ok(Clause::Preempt),
        _ if value.is_some() => Err(format!("unknown filter kind {key:?}")),
        bare if bare.starts_with('%') => Classes::from_name(bare)
            .map(Clause::Classes)
            .ok_or_else(|| format!("unknown class {bare:?}")),
        bare => Ok(Clause::Syscalls(syscall_list(bare)?)),
    }
}

impl Filter {
    /// Parses a spec; the error names the spec and the reason in one line.
    pub fn parse(spec: &str) -> Result<Filter, FilterError> {
        let err = |reason: String| FilterError {
            spec: spec.to_string(),
            reason,
        };
        let normalized = spec.replace(" if ", " && ");
        let mut clauses = Vec::new();
        for part in normalized.split("&&") {
            let part = part.trim();
            if part.is_empty() {
                return Err(err("empty clause".into()));
            }
            clauses.push(parse_clause(part).map_err(err)?);
        }
        Ok(Filter { clauses })
    }

    /// A filter matching every syscall in `nrs` (the `-e trace=` list).
    pub fn syscalls(nrs: Vec<u64>, classes: Classes) -> Filter {
        let mut clauses = Vec::new();
        if !nrs.is_empty() || classes == Classes::empty() {
            clauses.push(Clause::Syscalls(nrs));
        }
        if classes != Classes::empty() {
            clauses.push(Clause::Classes(classes));
        }
        Filter { clauses }
    }

    /// True when matching needs the call's result (so a split
    /// `<unfinished ...>` line cannot be decided at entry).
    pub fn needs_result(&self) -> bool {
        self.clauses.iter().any(|c| {
            matches!(
                c,
                Clause::Cond(Operand::Ret | Operand::Errno, _, _) | Clause::Exec
            )
        })
    }

    pub fn matches(&self, view: &EventView<'_>) -> bool {
        self.clauses.iter().all(|c| clause_matches(c, view))
    }
}

fn compare(lhs: i64, op: Op, rhs: i64) -> bool {
    match op {
        Op::Eq => lhs == rhs,
        Op::Ne => lhs != rhs,
        Op::Lt => lhs < rhs,
        Op::Le => lhs <= rhs,
        Op::Gt => lhs > rhs,
        Op::Ge => lhs >= rhs,
    }
}

fn clause_matches(clause: &Clause, v: &EventView<'_>) -> bool {
    let rec = match v.kind {
        ViewKind::Syscall(r) => Some(r),
        _ => None,
    };
    match clause {
        Clause::Syscalls(nrs) => rec.is_some_and(|r| nrs.contains(&r.nr)),
        Clause::Classes(c) => {
            rec.is_some_and(|r| syscall_model::classes(r.nr) & *c != Classes::empty())
        }
        Clause::File(prefix) => v.paths.iter().any(|p| p.starts_with(prefix.as_str())),
        Clause::NetCall(nrs) => rec.is_some_and(|r| nrs.contains(&r.nr)),
        Clause::NetAddr { ip, port } => v.addrs.iter().any(|a| match a {
            SockAddr::Inet { ip: i, port: p } => i == ip && port.is_none_or(|want| want == *p),
            SockAddr::Unix(path) => path == ip,
            SockAddr::Other(_) => false,
        }),
        Clause::Signal(s) => matches!(v.kind, ViewKind::Signal(n) if s.is_none_or(|w| w == n)),
        Clause::Event(n) => v.index == *n || rec.is_some_and(|r| r.exit_index == Some(*n)),
        Clause::Pid(p) => v.pid == *p || v.tid == *p,
        Clause::Exec => rec.is_some_and(|r| syscall_model::execs(r.nr) && r.result == Some(0)),
        Clause::Exit => {
            matches!(v.kind, ViewKind::TaskExit(_))
                || rec.is_some_and(|r| {
                    matches!(
                        syscall_model::task_effect(r.nr),
                        TaskEffect::EndsThread | TaskEffect::EndsProcess
                    )
                })
        }
        Clause::Preempt => matches!(v.kind, ViewKind::Preempt),
        Clause::Comm(name) => v.comm == Some(name.as_str()),
        Clause::Cond(operand, op, value) => {
            let Some(r) = rec else { return false };
            let lhs = match operand {
                Operand::Arg(i) => r.args[*i] as i64,
                Operand::Ret => match r.result {
                    Some(x) => x,
                    None => return false,
                },
                Operand::Errno => match r.errno() {
                    Some(e) => i64::from(e),
                    None => return false,
                },
            };
            compare(lhs, *op, *value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        for spec in [
            "syscall:openat",
            "openat",
            "%file",
            "syscall:%network",
            "file:/etc/",
            "net:connect",
            "net:127.0.0.1:443",
            "net:127.0.0.1",
            "signal:SIGSEGV",
            "event:42",
            "pid:7",
            "exec",
            "exit",
            "preempt",
            "comm:ls",
            "syscall:read if ret > 1024",
            "arg3 > 1024",
            "ret < 0",
            "errno == ENOENT",
            "openat && errno == ENOENT && pid:3",
        ] {
            Filter::parse(spec).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn bad_specs_are_one_line_errors() {
        for spec in [
            "nosuchcall",
            "arg9 > 1",
            "errno == EWHAT",
            "signal:SIGFOO",
            "x:y",
            "a &&",
            "event:x",
        ] {
            let e = Filter::parse(spec).unwrap_err().to_string();
            assert!(!e.contains('\n') && e.contains(spec), "{e}");
        }
    }
}

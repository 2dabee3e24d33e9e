//! The prompt: reads commands from a terminal (rustyline: editing, history)
//! or line by line from a pipe or file, and runs them against the cursor.

use std::io::{BufRead, IsTerminal, Write};
use trace::RecordedTid;

use analyze::Filter;

use crate::cursor::{Breakpoint, Cursor, RunEnd, Stop, Until};
use crate::render;
use crate::symbols::{Map, Symbolizer};
use crate::{InteractiveError, Options};

const PROMPT: &str = "replay> ";

/// Longest `mem` read, so a typo does not dump gigabytes.
const MAX_MEM: u64 = 1 << 20;

const HELP: &str = "\
commands:
  break SPEC | b SPEC      stop where SPEC matches (replay dump --filter grammar:
                           syscall:NAME, %class, file:PREFIX, net:..., signal:SIG,
                           event:N, pid:N, exec, exit, comm:NAME, ... if ret > N)
  info breakpoints         list breakpoints with their hit counts
  delete [N]               delete breakpoint N (all without N)
  continue | c             run to the next breakpoint (or the end)
  next [N] | n [N]         advance N syscalls/signals/exits of any thread (default 1)
  goto N                   go to event N (backwards: replays again from the start)
  back [N]                 go back N stops (default 1)
  where                    show the current stop again
  inspect | i              every argument decoded, buffers, result, errno, duration, fd paths
  regs [TID]               registers of the replayed thread now
  mem ADDR LEN             hexdump of the replayed process's memory
  bt [TID]                 symbolised backtrace
  ps                       live threads and processes
  gdb                      hand this point to gdb
  quit | q                 end (so does end of input)";

enum Input {
    Terminal(Box<rustyline::DefaultEditor>),
    Lines(std::io::StdinLock<'static>),
}

impl Input {
    fn open() -> Input {
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            match rustyline::DefaultEditor::new() {
                Ok(editor) => return Input::Terminal(Box::new(editor)),
                Err(e) => tracing::warn!("no line editing: {e}"),
            }
        }
        Input::Lines(std::io::stdin().lock())
    }

    fn read(&mut self) -> Result<Option<String>, InteractiveError> {
        match self {
            Input::Terminal(editor) => loop {
                match editor.readline(PROMPT) {
                    Ok(line) => {
                        if !line.trim().is_empty() {
                            let _ = editor.add_history_entry(line.as_str());
                        }
                        return Ok(Some(line));
                    }
                    // Ctrl-C at the prompt clears the line, as in gdb.
                    Err(rustyline::error::ReadlineError::Interrupted) => continue,
                    Err(rustyline::error::ReadlineError::Eof) => return Ok(None),
                    Err(e) => return Err(InteractiveError::Input(e.to_string())),
                }
            },
            Input::Lines(stdin) => {
                let mut line = String::new();
                match stdin.read_line(&mut line) {
                    Ok(0) => Ok(None),
                    Ok(_) => Ok(Some(line)),
                    Err(e) => Err(InteractiveError::Input(e.to_string())),
                }
            }
        }
    }
}

struct Repl<'o> {
    cursor: Cursor,
    breakpoints: Vec<Breakpoint>,
    next_id: u32,
    symbolizer: Symbolizer,
    /// Where everything the prompt says goes: stdout, or a script's sink.
    out: &'o mut dyn Write,
    /// Run from [`run_script`]: `gdb`, which waits for a debugger, is refused.
    scripted: bool,
}

/// Writes one line of the prompt's output. A closed output only loses it:
/// the replay goes on until the input ends.
macro_rules! say {
    ($repl:expr, $($arg:tt)*) => {{
        let _ = writeln!($repl.out, $($arg)*);
    }};
}

enum Flow {
    Go,
    Quit,
}

fn parse_num(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("{s:?} is not a number"))
}

/// Runs the prompt until `quit` or end of input.
pub fn run(opts: &Options) -> Result<(), InteractiveError> {
    let mut stdout = std::io::stdout();
    let mut repl = Repl::open(opts, &mut stdout, false)?;
    let mut input = Input::open();
    let repeat = matches!(input, Input::Terminal(_));
    let mut last = String::new();
    let result = loop {
        let line = match input.read() {
            Ok(Some(line)) => line,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let mut line = line.trim().to_string();
        // An empty line repeats the last command at a terminal, as gdb does.
        if line.is_empty() {
            if !repeat || last.is_empty() {
                continue;
            }
            line = last.clone();
        }
        let flow = repl.execute(&line);
        let _ = repl.out.flush();
        last = line;
        if let Flow::Quit = flow {
            break Ok(());
        }
    };
    repl.cursor.shutdown();
    result
}

/// Runs the prompt's commands in `script`, one per line, writing what the
/// prompt would print to `out`. For tests and fuzzing: whatever the lines
/// say, the answer is output or an `error:` line, never a panic or a hang.
/// `gdb` is refused (it would wait for a debugger).
pub fn run_script(
    opts: &Options,
    script: &str,
    out: &mut dyn Write,
) -> Result<(), InteractiveError> {
    let mut repl = Repl::open(opts, out, true)?;
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Flow::Quit = repl.execute(line) {
            break;
        }
    }
    repl.cursor.shutdown();
    Ok(())
}

impl<'o> Repl<'o> {
    fn open(
        opts: &Options,
        out: &'o mut dyn Write,
        scripted: bool,
    ) -> Result<Repl<'o>, InteractiveError> {
        let mut repl = Repl {
            cursor: Cursor::open(&opts.trace_dir)?,
            breakpoints: Vec::new(),
            next_id: 1,
            symbolizer: Symbolizer::default(),
            out,
            scripted,
        };
        for spec in &opts.breakpoints {
            let added = repl.add_breakpoint(spec)?;
            say!(repl, "{added}");
        }
        let events = repl
            .cursor
            .total_events
            .map(|n| format!("{n} events"))
            .unwrap_or_else(|| "event count unknown".into());
        say!(
            repl,
            "replaying {} ({events}); stopped before the first event. Type help for commands.",
            opts.trace_dir.display()
        );
        Ok(repl)
    }

    /// Runs one command line; an error is printed as the prompt prints it.
    fn execute(&mut self, line: &str) -> Flow {
        match self.command(line) {
            Ok(flow) => flow,
            Err(msg) => {
                say!(self, "error: {msg}");
                Flow::Go
            }
        }
    }

    fn add_breakpoint(&mut self, spec: &str) -> Result<String, InteractiveError> {
        let filter = Filter::parse(spec)?;
        let id = self.next_id;
        self.next_id += 1;
        self.breakpoints.push(Breakpoint {
            id,
            spec: spec.to_string(),
            filter,
            hits: 0,
        });
        Ok(format!("breakpoint {id}: {spec}"))
    }

    fn command(&mut self, line: &str) -> Result<Flow, String> {
        let (cmd, rest) = line
            .split_once(char::is_whitespace)
            .map(|(c, r)| (c, r.trim()))
            .unwrap_or((line, ""));
        let args: Vec<&str> = rest.split_whitespace().collect();
        match cmd {
            "quit" | "q" => return Ok(Flow::Quit),
            "help" | "h" | "?" => say!(self, "{HELP}"),
            "break" | "b" | "breakpoint" => {
                if rest.is_empty() {
                    return Err("break needs a SPEC, e.g. break syscall:openat".into());
                }
                let msg = self.add_breakpoint(rest).map_err(|e| e.to_string())?;
                say!(self, "{msg}");
            }
            "info" => match args.first().copied() {
                Some("breakpoints" | "break" | "b") => self.list_breakpoints(),
                _ => return Err("usage: info breakpoints".into()),
            },
            "delete" | "d" => self.delete(&args)?,
            "continue" | "c" | "cont" => {
                let end = self
                    .cursor
                    .run(Until::Breakpoints(&mut self.breakpoints))
                    .map_err(|e| e.to_string())?;
                self.report(end);
            }
            "next" | "n" | "step" | "s" => {
                let n = match args.first() {
                    Some(a) => parse_num(a)?.max(1),
                    None => 1,
                };
                let end = self
                    .cursor
                    .run(Until::Stops(n))
                    .map_err(|e| e.to_string())?;
                self.report(end);
            }
            "goto" => {
                let [n] = args[..] else {
                    return Err("usage: goto EVENT".into());
                };
                let end = self.cursor.goto(parse_num(n)?).map_err(|e| e.to_string())?;
                self.report(end);
            }
            "back" => {
                let n = match args.first() {
                    Some(a) => parse_num(a)?,
                    None => 1,
                };
                let target = self
                    .cursor
                    .stop_before(n)
                    .ok_or_else(|| format!("there are fewer than {n} stops before this point"))?;
                let end = self.cursor.goto(target).map_err(|e| e.to_string())?;
                self.report(end);
            }
            "where" => match &self.cursor.stop {
                Some(stop) => say!(self, "{}", render::stop_line(stop, None)),
                None => say!(self, "stopped before the first event"),
            },
            "inspect" | "i" => say!(self, "{}", render::inspect(self.stop()?)),
            "regs" => {
                let tid = self.thread_arg(&args)?;
                let session = self.session()?;
                let regs = session.regs(tid).map_err(|e| e.to_string())?;
                say!(self, "{}", render::regs(tid, &regs));
            }
            "mem" | "x" => self.mem(&args)?,
            "bt" | "backtrace" | "where-stack" => self.backtrace(&args)?,
            "ps" => self.ps()?,
            "gdb" if self.scripted => {
                return Err("gdb is not available when commands come from a script".into())
            }
            "gdb" => {
                // A second replay, positioned at exactly this event, is served
                // to gdb; this prompt's own replay stays where it is.
                let events = self.cursor.current().map(|c| c + 1).unwrap_or(0);
                let dir = self.cursor.dir().to_path_buf();
                gdbserver::serve(&dir, "127.0.0.1:0", gdbserver::StartAt {
                    events,
                    pid: None,
                    at_end: false,
                }, |bound| {
                    say!(self, "gdb server for event {events} listening on {bound}; in another terminal run:");
                    say!(self, "  gdb -ex 'target extended-remote {bound}'");
                    say!(self, "(this prompt returns when gdb detaches)");
                    use std::io::Write;
                    let _ = std::io::stdout().flush();
                })
                .map_err(|e| e.to_string())?;
                say!(self, "gdb detached; back at event {events}");
            }
            other => return Err(format!("unknown command {other:?} (help lists them)")),
        }
        Ok(Flow::Go)
    }

    fn report(&mut self, end: RunEnd) {
        match end {
            RunEnd::Stopped(stop, bp) => say!(self, "{}", render::stop_line(&stop, bp)),
            RunEnd::Ended => {
                let at = self
                    .cursor
                    .current()
                    .map(|c| format!("after event {c}"))
                    .unwrap_or_else(|| "with no events".into());
                say!(
                    self,
                    "the replay reached the end of the recording ({at}); back or goto N go back"
                );
            }
        }
    }

    fn list_breakpoints(&mut self) {
        if self.breakpoints.is_empty() {
            say!(self, "no breakpoints");
        }
        for bp in &self.breakpoints {
            say!(self, "{:<4} {:<40} hits {}", bp.id, bp.spec, bp.hits);
        }
    }

    fn delete(&mut self, args: &[&str]) -> Result<(), String> {
        if args.is_empty() {
            let n = self.breakpoints.len();
            self.breakpoints.clear();
            say!(self, "deleted {n} breakpoints");
            return Ok(());
        }
        for a in args {
            let id = parse_num(a)?;
            let before = self.breakpoints.len();
            self.breakpoints.retain(|b| u64::from(b.id) != id);
            if before == self.breakpoints.len() {
                return Err(format!("no breakpoint {id}"));
            }
            say!(self, "deleted breakpoint {id}");
        }
        Ok(())
    }

    fn stop(&self) -> Result<&Stop, String> {
        self.cursor
            .stop
            .as_ref()
            .ok_or_else(|| "no event has been replayed yet (try next)".to_string())
    }

    fn session(&self) -> Result<&replayer::ReplaySession, String> {
        self.cursor
            .session()
            .ok_or_else(|| "the replay is not running here (it was handed to gdb)".to_string())
    }

    /// TID from the arguments, else the stopped thread, else the first one.
    fn thread_arg(&self, args: &[&str]) -> Result<RecordedTid, String> {
        if let Some(a) = args.first() {
            return i32::try_from(parse_num(a)?)
                .map(RecordedTid)
                .map_err(|_| format!("bad thread id {a}"));
        }
        if let Some(stop) = &self.cursor.stop {
            if self.session()?.threads().iter().any(|t| t.tid == stop.tid) {
                return Ok(stop.tid);
            }
        }
        self.session()?
            .threads()
            .first()
            .map(|t| t.tid)
            .ok_or_else(|| "no live threads at this point".to_string())
    }

    fn pid_of(&self, tid: RecordedTid) -> Result<RecordedTid, String> {
        self.session()?
            .threads()
            .iter()
            .find(|t| t.tid == tid)
            .map(|t| t.pid)
            .ok_or_else(|| format!("thread {tid} is not alive at this point"))
    }

    fn mem(&mut self, args: &[&str]) -> Result<(), String> {
        let [addr, len] = args[..] else {
            return Err("usage: mem ADDR LEN".into());
        };
        let (addr, len) = (parse_num(addr)?, parse_num(len)?);
        if len == 0 || len > MAX_MEM {
            return Err(format!("LEN must be between 1 and {MAX_MEM}"));
        }
        let pid = self.pid_of(self.thread_arg(&[])?)?;
        let bytes = self
            .session()?
            .read_memory(pid, addr, len as usize)
            .map_err(|e| format!("cannot read {len} bytes at {addr:#x} in pid {pid}: {e}"))?;
        say!(self, "{}", render::hexdump(addr, &bytes, ""));
        Ok(())
    }

    fn backtrace(&mut self, args: &[&str]) -> Result<(), String> {
        let tid = self.thread_arg(args)?;
        let pid = self.pid_of(tid)?;
        let session = self
            .cursor
            .session()
            .ok_or("the replay is not running here")?;
        let regs = session.regs(tid).map_err(|e| e.to_string())?;
        let maps: Vec<Map> = session
            .mappings(pid)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|m| Map {
                start: m.start,
                end: m.end,
                offset: m.offset,
                executable: m.executable,
                path: m.name,
            })
            .collect();
        let read = |a: u64| {
            let b = session.read_memory(pid, a, 8).ok()?;
            Some(u64::from_le_bytes(b.try_into().ok()?))
        };
        let files = &self.cursor.files;
        let names = |path: &str| {
            let sha = path.rsplit('/').next().unwrap_or(path);
            files.get(sha).cloned().unwrap_or_else(|| path.to_string())
        };
        let (frames, scanned) = self.symbolizer.backtrace(&regs, &maps, &read, &names);
        say!(self, "thread {tid} (pid {pid}):");
        for (i, f) in frames.iter().enumerate() {
            say!(self, "#{i:<2} {}", f.text);
        }
        if !scanned.is_empty() {
            say!(self, "unwinding stopped; return addresses found by scanning the stack (a guess, may include stale frames):");
            for f in &scanned {
                say!(self, "  ?  {}", f.text);
            }
        }
        Ok(())
    }

    fn ps(&mut self) -> Result<(), String> {
        let rows: Vec<String> = self
            .session()?
            .threads()
            .iter()
            .map(|t| {
                format!(
                    "{:>7} {:>7} {:>9} {:<8} {}",
                    t.pid,
                    t.tid,
                    t.real_tid,
                    if t.started { "running" } else { "new" },
                    self.cursor.comm(t.pid).unwrap_or("?")
                )
            })
            .collect();
        say!(
            self,
            "{:>7} {:>7} {:>9} {:<8} COMM",
            "PID",
            "TID",
            "REAL_TID",
            "STATE"
        );
        for row in rows {
            say!(self, "{row}");
        }
        Ok(())
    }
}

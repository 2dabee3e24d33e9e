//! Text for stops, `inspect`, `regs` and `mem`.

use std::fmt::Write as _;
use trace::RecordedTid;

use analyze::errno::{errno_label, errno_message};
use trace::Regs;

use crate::cursor::Stop;

/// The one line printed at every stop: where, which event, what.
pub fn stop_line(stop: &Stop, bp: Option<u32>) -> String {
    let hit = bp.map(|b| format!("breakpoint {b}: ")).unwrap_or_default();
    let mut line = format!(
        "{hit}event {} [pid {} tid {}] {}",
        stop.event, stop.pid, stop.tid, stop.line
    );
    if let Some(p) = &stop.ret_path {
        let _ = write!(line, " <{p}>");
    }
    line
}

/// Bytes as printable text when they mostly are, as a hexdump otherwise.
pub fn bytes_view(bytes: &[u8], max: usize) -> String {
    let shown = &bytes[..bytes.len().min(max)];
    let more = if bytes.len() > max {
        format!("\n      ... {} more bytes", bytes.len() - max)
    } else {
        String::new()
    };
    let printable = shown
        .iter()
        .filter(|&&b| b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b))
        .count();
    if !shown.is_empty() && printable * 10 >= shown.len() * 9 {
        format!("{}{more}", analyze::decode::fmt::quote(shown, false))
    } else {
        format!("\n{}{more}", hexdump(0, shown, "      "))
    }
}

/// `offset  hex bytes  |ascii|`, 16 bytes a row.
pub fn hexdump(base: u64, bytes: &[u8], indent: &str) -> String {
    let mut out = String::new();
    for (row, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{indent}{:016x}  ", base + row as u64 * 16);
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
            if i == 7 {
                out.push(' ');
            }
        }
        out.push_str(" |");
        out.extend(chunk.iter().map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
    }
    out.pop();
    out
}

/// Everything known about the current stop.
pub fn inspect(stop: &Stop) -> String {
    let mut out = format!(
        "event {} pid {} tid {}\n  {}\n",
        stop.event, stop.pid, stop.tid, stop.line
    );
    let Some(rec) = &stop.record else {
        return out;
    };
    let _ = writeln!(
        out,
        "  syscall {} (nr {}), entry event {}, exit event {}",
        rec.name(),
        rec.nr,
        rec.index,
        rec.exit_index
            .map(|e| e.to_string())
            .unwrap_or_else(|| "none (never returned)".into())
    );
    // The decoder shows as many arguments as the call takes.
    let count = if stop.args_y.is_empty() {
        6
    } else {
        stop.args_y.len().min(6)
    };
    for (i, raw) in rec.args.iter().take(count).enumerate() {
        let decoded = stop.args_y.get(i).map(String::as_str).unwrap_or("-");
        let _ = write!(out, "  arg{} = {decoded}", i + 1);
        if !decoded.starts_with(&format!("{raw:#x}")) && !decoded.starts_with(&raw.to_string()) {
            let _ = write!(out, "  (raw {raw:#x})");
        }
        if let Some((_, p)) = stop.fd_paths.iter().find(|(a, _)| *a == i) {
            let _ = write!(out, "  [fd -> {p}]");
        }
        out.push('\n');
    }
    match rec.result {
        Some(r) => {
            let _ = write!(out, "  return = {r}");
            if let Some(e) = rec.errno() {
                let name = errno_label(e);
                let _ = write!(out, " ({name}: {})", errno_message(e));
            } else if r > 0xffff {
                let _ = write!(out, " ({r:#x})");
            }
            if let Some(p) = &stop.ret_path {
                let _ = write!(out, "  [fd -> {p}]");
            }
            out.push('\n');
        }
        None => out.push_str("  return = ? (not returned at this point)\n"),
    }
    if let Some(d) = rec.duration_ns() {
        let _ = writeln!(
            out,
            "  duration = {}.{:06} s",
            d / 1_000_000_000,
            (d % 1_000_000_000) / 1000
        );
    }
    for (w, bytes) in &rec.inputs {
        let _ = writeln!(
            out,
            "  read by the kernel from {:#x} ({} bytes): {}",
            w.addr,
            w.len,
            bytes_view(bytes, 4096)
        );
    }
    for (w, bytes) in &rec.writes {
        let _ = writeln!(
            out,
            "  written by the kernel to {:#x} ({} bytes): {}",
            w.addr,
            w.len,
            bytes_view(bytes, 4096)
        );
    }
    if !stop.touched.is_empty() {
        let _ = writeln!(out, "  paths: {}", stop.touched.join(", "));
    }
    out.pop();
    out
}

pub fn regs(tid: RecordedTid, regs: &Regs) -> String {
    let mut out = format!("thread {tid}:\n");
    for (i, (name, value)) in regs.named().iter().enumerate() {
        let _ = write!(out, "  {name:<8} {value:#018x}");
        if i % 3 == 2 {
            out.push('\n');
        }
    }
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

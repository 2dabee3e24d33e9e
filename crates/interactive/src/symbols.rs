//! Symbolised backtraces of a replayed thread.
//!
//! The replayed process maps its executable and libraries from the trace's
//! `files/<sha256>` blobs, so those are the ELF files to read. Unwinding uses
//! `.eh_frame` call-frame information (present in every x86_64 binary, even
//! without frame pointers); a frame without CFI falls back to the frame
//! pointer chain. When both fail, return addresses found by scanning the
//! stack are listed separately and labelled as a guess.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gimli::{
    BaseAddresses, CfaRule, EhFrame, LittleEndian, RegisterRule, UnwindContext, UnwindSection,
    X86_64,
};
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol};
use trace::Regs;

/// A mapping of the replayed process, as much as symbolisation needs.
#[derive(Debug, Clone)]
pub struct Map {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    pub executable: bool,
    /// Path on this machine (a `files/<sha256>` blob for captured files).
    pub path: String,
}

struct Module {
    data: Vec<u8>,
    /// (address, size, name), sorted by address.
    symbols: Vec<(u64, u64, String)>,
    /// PT_LOAD segments: (file offset, file size, vaddr).
    segments: Vec<(u64, u64, u64)>,
}

impl Module {
    fn load(path: &Path) -> Option<Module> {
        let data = std::fs::read(path).ok()?;
        let file = object::File::parse(&*data).ok()?;
        let mut symbols: Vec<(u64, u64, String)> = file
            .symbols()
            .chain(file.dynamic_symbols())
            .filter(|s| s.kind() == object::SymbolKind::Text && s.address() != 0)
            .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
            .collect();
        symbols.sort();
        symbols.dedup_by_key(|s| s.0);
        let segments = file
            .segments()
            .map(|s| {
                let (off, size) = s.file_range();
                (off, size, s.address())
            })
            .collect();
        drop(file);
        Some(Module {
            data,
            symbols,
            segments,
        })
    }

    fn vaddr_of_offset(&self, off: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|(o, size, _)| off >= *o && off < o + size)
            .map(|(o, _, v)| off - o + v)
    }

    fn symbol(&self, vaddr: u64) -> Option<String> {
        let i = self
            .symbols
            .partition_point(|s| s.0 <= vaddr)
            .checked_sub(1)?;
        let (addr, size, name) = &self.symbols[i];
        // Symbols with size 0 (hand-written assembly) still name the code
        // up to the next symbol.
        if *size != 0 && vaddr >= addr + size {
            return None;
        }
        Some(format!("{name}+{:#x}", vaddr - addr))
    }

    /// One CFI step: the caller's (rip, rsp, rbp) from this frame's.
    fn unwind(
        &self,
        vaddr: u64,
        rsp: u64,
        rbp: u64,
        read: &dyn Fn(u64) -> Option<u64>,
    ) -> Option<(u64, u64, u64)> {
        let file = object::File::parse(&*self.data).ok()?;
        let section = file.section_by_name(".eh_frame")?;
        let eh = EhFrame::new(section.data().ok()?, LittleEndian);
        let mut bases = BaseAddresses::default().set_eh_frame(section.address());
        if let Some(text) = file.section_by_name(".text") {
            bases = bases.set_text(text.address());
        }
        let mut ctx = Box::new(UnwindContext::new());
        let row = eh
            .unwind_info_for_address(&bases, &mut ctx, vaddr, EhFrame::cie_from_offset)
            .ok()?;
        let cfa = match row.cfa() {
            CfaRule::RegisterAndOffset { register, offset } => {
                let base = if *register == X86_64::RSP {
                    rsp
                } else if *register == X86_64::RBP {
                    rbp
                } else {
                    return None;
                };
                base.checked_add_signed(*offset)?
            }
            CfaRule::Expression(_) => return None,
        };
        let ra = match row.register(X86_64::RA) {
            RegisterRule::Offset(o) => read(cfa.checked_add_signed(o)?)?,
            _ => return None,
        };
        let new_rbp = match row.register(X86_64::RBP) {
            RegisterRule::Offset(o) => read(cfa.checked_add_signed(o)?)?,
            _ => rbp,
        };
        Some((ra, cfa, new_rbp))
    }
}

/// Caches parsed ELF files across `bt` commands.
#[derive(Default)]
pub struct Symbolizer {
    modules: HashMap<PathBuf, Option<Module>>,
}

pub struct Frame {
    pub text: String,
}

impl Symbolizer {
    fn module(&mut self, path: &str) -> Option<&Module> {
        self.modules
            .entry(PathBuf::from(path))
            .or_insert_with(|| Module::load(Path::new(path)))
            .as_ref()
    }

    /// Which module holds `addr`, at which link-time address.
    fn locate<'m>(&mut self, addr: u64, maps: &'m [Map]) -> Option<(&'m Map, u64)> {
        let map = maps.iter().find(|m| addr >= m.start && addr < m.end)?;
        if !map.path.starts_with('/') {
            return None;
        }
        let off = addr - map.start + map.offset;
        let vaddr = self.module(&map.path)?.vaddr_of_offset(off)?;
        Some((map, vaddr))
    }

    /// `0x... in main+0x1c (/usr/bin/prog)`.
    pub fn describe(&mut self, addr: u64, maps: &[Map], names: &dyn Fn(&str) -> String) -> String {
        let Some((map, vaddr)) = self.locate(addr, maps) else {
            let region = maps
                .iter()
                .find(|m| addr >= m.start && addr < m.end)
                .map(|m| m.path.clone())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "unmapped or anonymous memory".into());
            return format!("{addr:#018x} in ?? ({region})");
        };
        let sym = self
            .module(&map.path)
            .and_then(|m| m.symbol(vaddr))
            .unwrap_or_else(|| "??".into());
        format!("{addr:#018x} in {sym} ({})", names(&map.path))
    }

    /// Unwinds from `regs`; `read` reads one stack word of the process.
    pub fn backtrace(
        &mut self,
        regs: &Regs,
        maps: &[Map],
        read: &dyn Fn(u64) -> Option<u64>,
        names: &dyn Fn(&str) -> String,
    ) -> (Vec<Frame>, Vec<Frame>) {
        let mut frames = Vec::new();
        let (mut rip, mut rsp, mut rbp) = (regs.rip, regs.rsp, regs.rbp);
        let mut how = "";
        for depth in 0..64 {
            let text = self.describe(rip, maps, names);
            frames.push(Frame {
                text: format!("{text}{how}"),
            });
            // A return address points after the call; look the call up.
            let lookup = if depth == 0 { rip } else { rip - 1 };
            let cfi = self.locate(lookup, maps).and_then(|(map, vaddr)| {
                let path = map.path.clone();
                self.module(&path)?.unwind(vaddr, rsp, rbp, read)
            });
            let next = match cfi {
                Some(n) => {
                    how = "";
                    Some(n)
                }
                None if rbp > rsp && rbp - rsp < (1 << 24) => {
                    how = "  [via frame pointer]";
                    read(rbp + 8).and_then(|ra| Some((ra, rbp + 16, read(rbp)?)))
                }
                None => None,
            };
            match next {
                Some((ra, new_rsp, new_rbp)) if ra > 0x1000 && new_rsp > rsp => {
                    (rip, rsp, rbp) = (ra, new_rsp, new_rbp);
                }
                _ => break,
            }
        }
        // Unwinding stopped early (no CFI, no frame pointer): offer what the
        // stack holds that looks like return addresses.
        let mut scanned = Vec::new();
        if frames.len() < 2 {
            for i in 0..2048u64 {
                let Some(word) = read(regs.rsp + i * 8) else {
                    break;
                };
                if self.after_call(word, maps, read) {
                    scanned.push(Frame {
                        text: self.describe(word, maps, names),
                    });
                    if scanned.len() >= 16 {
                        break;
                    }
                }
            }
        }
        (frames, scanned)
    }

    /// True when `addr` is in executable code right after a call instruction.
    fn after_call(&mut self, addr: u64, maps: &[Map], read: &dyn Fn(u64) -> Option<u64>) -> bool {
        if !maps
            .iter()
            .any(|m| m.executable && addr >= m.start && addr < m.end)
        {
            return false;
        }
        let Some(before) = addr.checked_sub(8).and_then(read) else {
            return false;
        };
        let b = before.to_le_bytes();
        // call rel32 (e8 xx xx xx xx), call *reg (ff d0+r), call *disp8(reg)
        // (ff 5x xx), call *disp32(reg) / *rip-relative (ff 15/9x + 4 bytes).
        b[3] == 0xe8
            || (b[6] == 0xff && (0xd0..=0xd7).contains(&b[7]))
            || (b[5] == 0xff && (0x50..=0x57).contains(&b[6]))
            || (b[2] == 0xff && (b[3] == 0x15 || (0x90..=0x97).contains(&b[3])))
    }
}

//! x86_64 as gdb sees it on Linux: the core, x87 and SSE registers of the
//! stock description plus `orig_rax`, `fs_base` and `gs_base`, which the
//! stock gdbstub architecture lacks and which gdb needs for syscall restarts
//! and thread-local storage.

use gdbstub::arch::{Arch, Registers};
use trace::event::Regs;

/// Register file in gdb's numbering for the target description below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X86_64Regs {
    pub gprs: Regs,
    /// FXSAVE image (PTRACE_GETFPREGS): x87 state at 0..32, st0-7 at 32,
    /// xmm0-15 at 160.
    pub fxsave: [u8; 512],
}

impl Default for X86_64Regs {
    fn default() -> Self {
        X86_64Regs {
            gprs: Regs::default(),
            fxsave: [0; 512],
        }
    }
}

fn le16(b: &[u8], at: usize) -> u32 {
    u16::from_le_bytes([b[at], b[at + 1]]) as u32
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl X86_64Regs {
    /// Values in target-description order, each as little-endian bytes.
    fn fields(&self) -> Vec<Vec<u8>> {
        let g = &self.gprs;
        let mut out: Vec<Vec<u8>> = [
            g.rax, g.rbx, g.rcx, g.rdx, g.rsi, g.rdi, g.rbp, g.rsp, g.r8, g.r9, g.r10, g.r11,
            g.r12, g.r13, g.r14, g.r15, g.rip,
        ]
        .iter()
        .map(|v| v.to_le_bytes().to_vec())
        .collect();
        for v in [g.eflags, g.cs, g.ss, g.ds, g.es, g.fs, g.gs] {
            out.push((v as u32).to_le_bytes().to_vec());
        }
        let fx = &self.fxsave;
        for i in 0..8 {
            out.push(fx[32 + 16 * i..32 + 16 * i + 10].to_vec());
        }
        let x87 = [
            le16(fx, 0),  // fctrl
            le16(fx, 2),  // fstat
            le16(fx, 4),  // ftag (abridged form, as FXSAVE stores it)
            0,            // fiseg
            le32(fx, 8),  // fioff
            0,            // foseg
            le32(fx, 16), // fooff
            le16(fx, 6),  // fop
        ];
        out.extend(x87.iter().map(|v| v.to_le_bytes().to_vec()));
        for i in 0..16 {
            out.push(fx[160 + 16 * i..160 + 16 * (i + 1)].to_vec());
        }
        out.push(le32(fx, 24).to_le_bytes().to_vec());
        out.push(g.orig_rax.to_le_bytes().to_vec());
        out.push(g.fs_base.to_le_bytes().to_vec());
        out.push(g.gs_base.to_le_bytes().to_vec());
        out
    }
}

impl Registers for X86_64Regs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.gprs.rip
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        for field in self.fields() {
            for b in field {
                write_byte(Some(b));
            }
        }
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        // The same layout as `fields`, read back. Bytes of the FXSAVE image
        // that gdb has no register for stay as they were (zero in a fresh
        // value; the target overlays what gdb sent on the thread's own, see
        // `overlay_fxsave`).
        let mut at = 0;
        let mut take = |len: usize| -> Result<&[u8], ()> {
            let field = bytes.get(at..at + len).ok_or(())?;
            at += len;
            Ok(field)
        };
        let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
        let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap_or_default());
        let g = &mut self.gprs;
        for reg in [
            &mut g.rax, &mut g.rbx, &mut g.rcx, &mut g.rdx, &mut g.rsi, &mut g.rdi, &mut g.rbp,
            &mut g.rsp, &mut g.r8, &mut g.r9, &mut g.r10, &mut g.r11, &mut g.r12, &mut g.r13,
            &mut g.r14, &mut g.r15, &mut g.rip,
        ] {
            *reg = u64_of(take(8)?);
        }
        for reg in [
            &mut g.eflags,
            &mut g.cs,
            &mut g.ss,
            &mut g.ds,
            &mut g.es,
            &mut g.fs,
            &mut g.gs,
        ] {
            *reg = u64::from(u32_of(take(4)?));
        }
        let fx = &mut self.fxsave;
        for i in 0..8 {
            fx[32 + 16 * i..32 + 16 * i + 10].copy_from_slice(take(10)?);
        }
        // fctrl, fstat, ftag, fiseg, fioff, foseg, fooff, fop.
        let x87: Vec<u32> = (0..8)
            .map(|_| take(4).map(u32_of))
            .collect::<Result<_, _>>()?;
        fx[0..2].copy_from_slice(&(x87[0] as u16).to_le_bytes());
        fx[2..4].copy_from_slice(&(x87[1] as u16).to_le_bytes());
        fx[4..6].copy_from_slice(&(x87[2] as u16).to_le_bytes());
        fx[8..12].copy_from_slice(&x87[4].to_le_bytes());
        fx[16..20].copy_from_slice(&x87[6].to_le_bytes());
        fx[6..8].copy_from_slice(&(x87[7] as u16).to_le_bytes());
        for i in 0..16 {
            fx[160 + 16 * i..160 + 16 * (i + 1)].copy_from_slice(take(16)?);
        }
        fx[24..28].copy_from_slice(take(4)?);
        g.orig_rax = u64_of(take(8)?);
        g.fs_base = u64_of(take(8)?);
        g.gs_base = u64_of(take(8)?);
        Ok(())
    }
}

/// The byte ranges of an FXSAVE image that gdb's registers cover (see
/// `fields`): x87 control, status, tag and opcode, the instruction and
/// data offsets, MXCSR, st0-7 and xmm0-15.
const FXSAVE_COVERED: [std::ops::Range<usize>; 5] = [0..12, 16..20, 24..28, 32..160, 160..416];

/// `onto` (a thread's FXSAVE image) with the bytes gdb's registers cover
/// taken from `from` (what gdb wrote).
pub fn overlay_fxsave(from: &[u8; 512], onto: &[u8; 512]) -> [u8; 512] {
    let mut merged = *onto;
    for range in FXSAVE_COVERED {
        merged[range.clone()].copy_from_slice(&from[range]);
    }
    merged
}

pub enum X86_64Linux {}

impl Arch for X86_64Linux {
    type Usize = u64;
    type Registers = X86_64Regs;
    type BreakpointKind = usize;
    type RegId = ();

    fn target_description_xml() -> Option<&'static str> {
        Some(TARGET_XML)
    }
}

const TARGET_XML: &str = r#"<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
<architecture>i386:x86-64</architecture>
<osabi>GNU/Linux</osabi>
<feature name="org.gnu.gdb.i386.core">
<flags id="i386_eflags" size="4">
<field name="CF" start="0" end="0"/><field name="" start="1" end="1"/><field name="PF" start="2" end="2"/>
<field name="AF" start="4" end="4"/><field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
<field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/><field name="DF" start="10" end="10"/>
<field name="OF" start="11" end="11"/><field name="RF" start="16" end="16"/>
</flags>
<reg name="rax" bitsize="64" type="int64"/><reg name="rbx" bitsize="64" type="int64"/>
<reg name="rcx" bitsize="64" type="int64"/><reg name="rdx" bitsize="64" type="int64"/>
<reg name="rsi" bitsize="64" type="int64"/><reg name="rdi" bitsize="64" type="int64"/>
<reg name="rbp" bitsize="64" type="data_ptr"/><reg name="rsp" bitsize="64" type="data_ptr"/>
<reg name="r8" bitsize="64" type="int64"/><reg name="r9" bitsize="64" type="int64"/>
<reg name="r10" bitsize="64" type="int64"/><reg name="r11" bitsize="64" type="int64"/>
<reg name="r12" bitsize="64" type="int64"/><reg name="r13" bitsize="64" type="int64"/>
<reg name="r14" bitsize="64" type="int64"/><reg name="r15" bitsize="64" type="int64"/>
<reg name="rip" bitsize="64" type="code_ptr"/><reg name="eflags" bitsize="32" type="i386_eflags"/>
<reg name="cs" bitsize="32" type="int32"/><reg name="ss" bitsize="32" type="int32"/>
<reg name="ds" bitsize="32" type="int32"/><reg name="es" bitsize="32" type="int32"/>
<reg name="fs" bitsize="32" type="int32"/><reg name="gs" bitsize="32" type="int32"/>
<reg name="st0" bitsize="80" type="i387_ext"/><reg name="st1" bitsize="80" type="i387_ext"/>
<reg name="st2" bitsize="80" type="i387_ext"/><reg name="st3" bitsize="80" type="i387_ext"/>
<reg name="st4" bitsize="80" type="i387_ext"/><reg name="st5" bitsize="80" type="i387_ext"/>
<reg name="st6" bitsize="80" type="i387_ext"/><reg name="st7" bitsize="80" type="i387_ext"/>
<reg name="fctrl" bitsize="32" type="int" group="float"/><reg name="fstat" bitsize="32" type="int" group="float"/>
<reg name="ftag" bitsize="32" type="int" group="float"/><reg name="fiseg" bitsize="32" type="int" group="float"/>
<reg name="fioff" bitsize="32" type="int" group="float"/><reg name="foseg" bitsize="32" type="int" group="float"/>
<reg name="fooff" bitsize="32" type="int" group="float"/><reg name="fop" bitsize="32" type="int" group="float"/>
</feature>
<feature name="org.gnu.gdb.i386.sse">
<vector id="v8bf16" type="bfloat16" count="8"/><vector id="v4f" type="ieee_single" count="4"/>
<vector id="v2d" type="ieee_double" count="2"/><vector id="v16i8" type="int8" count="16"/>
<vector id="v8i16" type="int16" count="8"/><vector id="v4i32" type="int32" count="4"/>
<vector id="v2i64" type="int64" count="2"/>
<union id="vec128"><field name="v8_bfloat16" type="v8bf16"/><field name="v4_float" type="v4f"/>
<field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/>
<field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/></union>
<flags id="i386_mxcsr" size="4"><field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/>
<field name="ZE" start="2" end="2"/><field name="OE" start="3" end="3"/><field name="UE" start="4" end="4"/>
<field name="PE" start="5" end="5"/><field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/>
<field name="DM" start="8" end="8"/><field name="ZM" start="9" end="9"/><field name="OM" start="10" end="10"/>
<field name="UM" start="11" end="11"/><field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/></flags>
<reg name="xmm0" bitsize="128" type="vec128"/><reg name="xmm1" bitsize="128" type="vec128"/>
<reg name="xmm2" bitsize="128" type="vec128"/><reg name="xmm3" bitsize="128" type="vec128"/>
<reg name="xmm4" bitsize="128" type="vec128"/><reg name="xmm5" bitsize="128" type="vec128"/>
<reg name="xmm6" bitsize="128" type="vec128"/><reg name="xmm7" bitsize="128" type="vec128"/>
<reg name="xmm8" bitsize="128" type="vec128"/><reg name="xmm9" bitsize="128" type="vec128"/>
<reg name="xmm10" bitsize="128" type="vec128"/><reg name="xmm11" bitsize="128" type="vec128"/>
<reg name="xmm12" bitsize="128" type="vec128"/><reg name="xmm13" bitsize="128" type="vec128"/>
<reg name="xmm14" bitsize="128" type="vec128"/><reg name="xmm15" bitsize="128" type="vec128"/>
<reg name="mxcsr" bitsize="32" type="i386_mxcsr" group="vector"/>
</feature>
<feature name="org.gnu.gdb.i386.linux">
<reg name="orig_rax" bitsize="64" type="int" regnum="57"/>
</feature>
<feature name="org.gnu.gdb.i386.segments">
<reg name="fs_base" bitsize="64" type="int"/><reg name="gs_base" bitsize="64" type="int"/>
</feature>
</target>
"#;

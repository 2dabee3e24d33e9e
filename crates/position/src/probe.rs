//! The probe replay plants at a state-matched point.
//!
//! A breakpoint there would stop the thread on every pass of the loop, and a
//! ptrace stop costs about 20 µs on these machines (a hardware breakpoint
//! handled in the kernel still costs 3.7 µs). A spinning loop makes millions
//! of passes in a time slice. So the comparison runs inside the tracee: the
//! first bytes at the point become a `jmp` to a page of generated code that
//! compares every general register, the arithmetic flags and the watched
//! memory words with the recorded values. Only a full match executes an
//! `int3`; otherwise the displaced instructions run (relocated) and the code
//! jumps back. The probe uses no stack (the red zone and anything the loop
//! wrote below rsp stay untouched) and keeps its scratch words in its page.
//!
//! A loop that counts in a vector or x87 register (a float accumulator
//! spinning on a flag) has the same general registers on every pass, so
//! the probe also compares mxcsr, xmm0-15 and the x87 registers, from an
//! `fxsave` into its page: otherwise every pass would trap to the tracer.
//! The tracer still compares the rest of the AVX state at a hit.

use crate::pass::PATCH_MIN;
use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, Decoder, DecoderOptions, IcedError, Instruction};
use trace::event::{Regs, WatchedWord};

/// The probe's scratch page comes first; its code starts one page in.
pub const DATA_LEN: u64 = 4096;

/// Bytes replay maps for a probe: the scratch page and the code after it.
pub const PROBE_LEN: u64 = 3 * 4096;

/// Arithmetic flags `lahf` + `seto` capture: SF ZF AF PF CF and OF.
const LAHF_FLAGS: u64 = 0xd5;

/// Where in the scratch page the probe's `xsave` writes (64-aligned), and
/// how far: to the end of the AVX component, which a standard-form area
/// keeps at 576 (Intel SDM, XSAVE layout).
const XSAVE_AT: usize = 1024;
const XSAVE_AVX: usize = 576;
/// XSTATE_BV, the first word of the XSAVE header.
const XSAVE_HEADER: usize = 512;
const XSAVE_LEN: usize = XSAVE_AVX + 256;
/// Where the probe expects the AVX component; a CPU that puts it
/// elsewhere gets no in-probe comparison of it.
pub const AVX_IN_XSAVE_AREA: Option<std::ops::Range<usize>> = Some(XSAVE_AVX..XSAVE_LEN);
/// The requested-feature mask for `xsave`: the AVX component alone.
const XSAVE_AVX_MASK: u32 = 1 << 2;
/// Where in the scratch page the probe's `fxsave` writes (16-aligned).
const FXSAVE_AT: usize = 2048;
const FXSAVE_LEN: usize = 512;
/// Offsets in the FXSAVE image (Intel SDM, FXSAVE layout).
const FXSAVE_MXCSR: usize = 24;
const FXSAVE_ST: usize = 32;
const FXSAVE_XMM: usize = 160;
/// Each x87 register's slot in the FXSAVE image: 10 bytes of register,
/// 6 reserved.
const ST_SLOT: usize = 16;

/// The recorded floating-point state the probe compares.
#[derive(Debug, Clone, Copy)]
pub struct VectorTarget<'a> {
    pub mxcsr: u32,
    /// xmm0-15 as FXSAVE stores them (256 bytes).
    pub xmm: &'a [u8],
    /// The x87 state as `trace::VectorState` keeps it, or empty: not
    /// compared.
    pub x87: &'a [u8],
    /// The upper halves of ymm0-15 (256 bytes), or empty: not compared
    /// (replay's CPU has no AVX, or the trace is older).
    pub ymm_high: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("the {len} bytes at {at:#x} do not decode as whole instructions")]
    Undecodable { at: u64, len: usize },
    #[error("cannot assemble the probe for {at:#x}: {source}")]
    Assemble { at: u64, source: IcedError },
    #[error("the probe page at {page:#x} is out of jump range of {at:#x}")]
    OutOfRange { at: u64, page: u64 },
    #[error("the probe for {at:#x} needs {len} bytes, more than its page holds")]
    TooLarge { at: u64, len: usize },
}

/// Generated code for one point, to be written at `page` (a mapping of
/// [`PROBE_LEN`] bytes): scratch words, then the code.
#[derive(Debug, Clone)]
pub struct Probe {
    pub code: Vec<u8>,
    /// Address of the `int3` a full match executes.
    pub hit: u64,
    /// Where to resume after a hit the tracer rejects (state the probe does
    /// not compare, such as SSE registers, differed): the displaced
    /// instructions, with registers and flags already restored.
    pub resume_miss: u64,
    /// The bytes that replace the point's first `patch_len` bytes: a `jmp`
    /// to the page, then `int3` filler that nothing should reach.
    pub patch: Vec<u8>,
}

/// Value `lahf; seto al` leaves in ax for these flags.
fn flags_snapshot(eflags: u64) -> u16 {
    let high = (eflags & LAHF_FLAGS) | 0x02;
    let overflow = (eflags >> 11) & 1;
    ((high << 8) | overflow) as u16
}

/// The instructions in the patch window at `at`, which the probe runs
/// after a miss in their place.
fn displaced_instructions(at: u64, original: &[u8]) -> Result<Vec<Instruction>, ProbeError> {
    let mut displaced = Vec::new();
    let mut decoder = Decoder::with_ip(64, original, at, DecoderOptions::NONE);
    let mut covered = 0usize;
    while covered < original.len() {
        let insn = decoder.decode();
        if insn.is_invalid() {
            return Err(ProbeError::Undecodable {
                at,
                len: original.len(),
            });
        }
        covered += insn.len();
        displaced.push(insn);
    }
    Ok(displaced)
}

/// How a probe decides to trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeMode {
    /// Traps only when registers, flags and words all match, or at the
    /// near miss `NearMisses::accept_pass` names.
    Compare,
    /// As `Compare`, and counts how many words differ at each near miss to
    /// keep the closest one (`NearMisses::best_pass`). Every near miss then
    /// compares every word, so this is only for a point already missed.
    Score,
    /// Traps on every pass, leaving the comparison to the tracer: slow, but
    /// the tracer can then report how the nearest pass differed.
    TrapEveryPass,
}

/// What a probe counts in its scratch page about passes whose registers and
/// flags matched but whose memory words did not ("near misses"). A word
/// the program never initialised (the bytes an `xsavec` in the dynamic
/// linker's lazy-binding trampoline leaves depend on the CPU's XINUSE
/// state, which no tracer controls) can differ at the very pass that is
/// the point; counting lets replay go back and take that pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NearMisses {
    /// Near misses so far.
    pub passes: u64,
    /// The fewest differing words at one (Score mode), u64::MAX before any.
    pub best_words: u64,
    /// Which near miss that was, counting from 1.
    pub best_pass: u64,
    /// The near miss that traps as if it matched; 0 for none.
    pub accept_pass: u64,
}

impl NearMisses {
    pub fn new(accept_pass: u64) -> NearMisses {
        NearMisses {
            passes: 0,
            best_words: u64::MAX,
            best_pass: 0,
            accept_pass,
        }
    }

    /// Offset of the counters in the probe's page, and their length.
    pub const OFFSET: u64 = 24;
    pub const LEN: usize = 32;

    /// Reads the counters from the bytes at `OFFSET`.
    pub fn from_bytes(bytes: &[u8]) -> Option<NearMisses> {
        let word = |i: usize| {
            Some(u64::from_le_bytes(
                bytes.get(8 * i..8 * i + 8)?.try_into().ok()?,
            ))
        };
        Some(NearMisses {
            passes: word(0)?,
            best_words: word(1)?,
            best_pass: word(2)?,
            accept_pass: word(3)?,
        })
    }
}

/// The recorded state a probe looks for.
#[derive(Debug, Clone, Copy)]
pub struct PointTarget<'a> {
    pub regs: &'a Regs,
    pub words: &'a [WatchedWord],
    /// `None`: the vector state is not compared in the tracee.
    pub vector: Option<VectorTarget<'a>>,
}

/// Builds the probe for the point `at`, whose first bytes (`original`, the
/// patch window the recorder chose) it displaces. `counters` start where a
/// probe planted before for this point left them.
pub fn build(
    at: u64,
    original: &[u8],
    page: u64,
    point: PointTarget<'_>,
    mode: ProbeMode,
    counters: NearMisses,
) -> Result<Probe, ProbeError> {
    let PointTarget {
        regs: target,
        words,
        vector,
    } = point;
    let asm_err = |source| ProbeError::Assemble { at, source };
    let entry = page + DATA_LEN;
    let rel = entry.wrapping_sub(at.wrapping_add(PATCH_MIN)) as i64;
    if i32::try_from(rel).is_err() {
        return Err(ProbeError::OutOfRange { at, page });
    }
    let displaced = displaced_instructions(at, original)?;

    let mut a = CodeAssembler::new(64).map_err(asm_err)?;
    let mut l = Labels::new(&mut a);
    (|| -> Result<(), IcedError> {
        let (xsave_words, fx_words) = emit_scratch_page(&mut a, &mut l, counters)?;
        a.mov(qword_ptr(l.save_rax), rax)?;
        a.lahf()?;
        a.seto(al)?;
        a.mov(word_ptr(l.save_flags), ax)?;
        if mode == ProbeMode::TrapEveryPass {
            a.jmp(l.hit)?;
        }
        emit_register_compare(&mut a, &l, target)?;
        if let Some(vector) = vector {
            compare_vector_state(&mut a, &fx_words, &vector, l.miss)?;
            if !vector.ymm_high.is_empty() {
                compare_upper_ymm(&mut a, &xsave_words, l.save_rdx, vector.ymm_high, l.miss)?;
            }
        }
        if !words.is_empty() {
            emit_word_compare(&mut a, &mut l, words, mode)?;
        }
        a.set_label(&mut l.hit)?;
        restore(&mut a, l.save_flags, l.save_rax)?;
        a.set_label(&mut l.trap)?;
        a.int3()?;
        a.set_label(&mut l.miss)?;
        restore(&mut a, l.save_flags, l.save_rax)?;
        a.set_label(&mut l.resume)?;
        for insn in &displaced {
            if is_direct_call(insn) {
                emit_call_from(&mut a, insn)?;
            } else {
                a.add_instruction(*insn)?;
            }
        }
        a.jmp(at + original.len() as u64)?;
        Ok(())
    })()
    .map_err(asm_err)?;

    let result = a
        .assemble_options(page, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
        .map_err(asm_err)?;
    let hit = result.label_ip(&l.trap).map_err(asm_err)?;
    let resume_miss = result.label_ip(&l.resume).map_err(asm_err)?;
    let mut patch = vec![0xe9];
    patch.extend_from_slice(&(rel as i32).to_le_bytes());
    patch.resize(original.len(), 0xcc);
    let code = result.inner.code_buffer;
    if code.len() as u64 > PROBE_LEN {
        // Written past its mapping, it would land in the program's memory.
        return Err(ProbeError::TooLarge {
            at,
            len: code.len(),
        });
    }
    Ok(Probe {
        code,
        hit,
        resume_miss,
        patch,
    })
}

/// The length of the instruction at `at` (decoded from `bytes`, read
/// there) when a probe can displace it on its own: long enough for the
/// probe's `jmp`, so that no other instruction starts inside the patch and
/// no jump the program makes can land in it. Instructions that stop the
/// thread by themselves (syscall, trapped rdtsc or CPUID) and calls
/// through a register or memory are not displaced.
pub fn displaceable_alone(at: u64, bytes: &[u8]) -> Option<usize> {
    let insn = Decoder::with_ip(64, bytes, at, DecoderOptions::NONE).decode();
    if insn.is_invalid() || (insn.len() as u64) < PATCH_MIN {
        return None;
    }
    let kind = crate::insn::decode(at, bytes, &Regs::default()).kind;
    let movable = match kind {
        crate::insn::InsnKind::Sequential | crate::insn::InsnKind::Branch => {
            insn.mnemonic() != iced_x86::Mnemonic::Cpuid
        }
        crate::insn::InsnKind::Call => is_direct_call(&insn),
        _ => false,
    };
    movable.then_some(insn.len())
}

/// A `call` with its target in the instruction. Moved into the probe's
/// page, it would push the page's address as its return address: a
/// backtrace would show it, and a stack word compared later would differ.
fn is_direct_call(insn: &Instruction) -> bool {
    insn.flow_control() == iced_x86::FlowControl::Call
        && insn.op0_kind() == iced_x86::OpKind::NearBranch64
}

/// Runs `call` as if from its own address: pushes the address after it,
/// then jumps to its target, leaving every register and flag as the call
/// would (the pushed `rax` is exchanged for the return address).
fn emit_call_from(a: &mut CodeAssembler, call: &Instruction) -> Result<(), IcedError> {
    a.push(rax)?;
    a.mov(rax, call.next_ip())?;
    a.xchg(qword_ptr(rsp), rax)?;
    a.jmp(call.near_branch_target())
}

/// The probe's scratch words (on its data page) and its branch targets.
struct Labels {
    save_rax: CodeLabel,
    save_rbx: CodeLabel,
    save_rdx: CodeLabel,
    save_flags: CodeLabel,
    passes: CodeLabel,
    best_words: CodeLabel,
    best_pass: CodeLabel,
    accept_pass: CodeLabel,
    differing: CodeLabel,
    miss: CodeLabel,
    near_miss: CodeLabel,
    hit: CodeLabel,
    trap: CodeLabel,
    resume: CodeLabel,
}

impl Labels {
    fn new(a: &mut CodeAssembler) -> Labels {
        Labels {
            save_rax: a.create_label(),
            save_rbx: a.create_label(),
            save_rdx: a.create_label(),
            save_flags: a.create_label(),
            passes: a.create_label(),
            best_words: a.create_label(),
            best_pass: a.create_label(),
            accept_pass: a.create_label(),
            differing: a.create_label(),
            miss: a.create_label(),
            near_miss: a.create_label(),
            hit: a.create_label(),
            trap: a.create_label(),
            resume: a.create_label(),
        }
    }
}

/// The data page: scratch words and counters first, then the `xsave` and
/// `fxsave` areas, with a label on each of their words (a label plus a
/// displacement is no operand the assembler has). Scratch words live on
/// their own page: stores next to code being run would make the CPU
/// flush its pipeline on every pass.
fn emit_scratch_page(
    a: &mut CodeAssembler,
    l: &mut Labels,
    counters: NearMisses,
) -> Result<(Vec<CodeLabel>, Vec<CodeLabel>), IcedError> {
    for (label, value) in [
        (&mut l.save_rax, 0),
        (&mut l.save_rbx, 0),
        (&mut l.save_flags, 0),
        (&mut l.passes, counters.passes),
        (&mut l.best_words, counters.best_words),
        (&mut l.best_pass, counters.best_pass),
        (&mut l.accept_pass, counters.accept_pass),
        (&mut l.differing, 0),
        (&mut l.save_rdx, 0),
    ] {
        a.set_label(label)?;
        a.dq(&[value])?;
    }
    let area_words = |a: &mut CodeAssembler, len: usize| {
        let mut labels = Vec::with_capacity(len / 8);
        for _ in 0..len / 8 {
            let mut label = a.create_label();
            a.set_label(&mut label)?;
            a.dq(&[0])?;
            labels.push(label);
        }
        Ok::<_, IcedError>(labels)
    };
    a.db(&[0u8; XSAVE_AT - 72])?;
    let xsave_words = area_words(a, XSAVE_LEN)?;
    a.db(&[0u8; FXSAVE_AT - XSAVE_AT - XSAVE_LEN])?;
    let fx_words = area_words(a, FXSAVE_LEN)?;
    a.db(&[0u8; DATA_LEN as usize - FXSAVE_AT - FXSAVE_LEN])?;
    Ok((xsave_words, fx_words))
}

/// Compares the general registers and the arithmetic flags; a difference
/// jumps to the miss path. Loop variables usually live in caller-saved
/// registers, so those are compared first: most passes miss after two or
/// three instructions.
fn emit_register_compare(
    a: &mut CodeAssembler,
    l: &Labels,
    target: &Regs,
) -> Result<(), IcedError> {
    a.mov(rax, target.rax)?;
    a.cmp(rax, qword_ptr(l.save_rax))?;
    a.jne(l.miss)?;
    for (reg, value) in [
        (rcx, target.rcx),
        (rdx, target.rdx),
        (rsi, target.rsi),
        (rdi, target.rdi),
        (r8, target.r8),
        (r9, target.r9),
        (r10, target.r10),
        (r11, target.r11),
        (rbx, target.rbx),
        (rbp, target.rbp),
        (r12, target.r12),
        (r13, target.r13),
        (r14, target.r14),
        (r15, target.r15),
        (rsp, target.rsp),
    ] {
        a.mov(rax, value)?;
        a.cmp(reg, rax)?;
        a.jne(l.miss)?;
    }
    a.mov(ax, word_ptr(l.save_flags))?;
    a.cmp(ax, i32::from(flags_snapshot(target.eflags)))?;
    a.jne(l.miss)
}

/// Compares the watched memory words, with the registers already equal.
/// Scoring counts the differing words and remembers the closest pass;
/// otherwise any difference is a near miss, which hits only on the pass
/// the tracer chose to accept.
fn emit_word_compare(
    a: &mut CodeAssembler,
    l: &mut Labels,
    words: &[WatchedWord],
    mode: ProbeMode,
) -> Result<(), IcedError> {
    a.mov(qword_ptr(l.save_rbx), rbx)?;
    a.mov(qword_ptr(l.differing), 0)?;
    for w in words {
        a.mov(rax, w.addr)?;
        match w.len {
            1 => a.movzx(eax, byte_ptr(rax))?,
            2 => a.movzx(eax, word_ptr(rax))?,
            4 => a.mov(eax, dword_ptr(rax))?,
            _ => a.mov(rax, qword_ptr(rax))?,
        }
        let mask = match w.len {
            1 => 0xff,
            2 => 0xffff,
            4 => 0xffff_ffff,
            _ => u64::MAX,
        };
        a.mov(rbx, w.value & mask)?;
        a.cmp(rax, rbx)?;
        if mode == ProbeMode::Score {
            let mut same = a.create_label();
            a.je(same)?;
            a.add(qword_ptr(l.differing), 1)?;
            a.set_label(&mut same)?;
            a.nop()?;
        } else {
            a.jne(l.near_miss)?;
        }
    }
    a.mov(rbx, qword_ptr(l.save_rbx))?;
    a.cmp(qword_ptr(l.differing), 0)?;
    a.je(l.hit)?;
    // Registers matched, some words did not.
    a.set_label(&mut l.near_miss)?;
    a.mov(rbx, qword_ptr(l.save_rbx))?;
    a.add(qword_ptr(l.passes), 1)?;
    if mode == ProbeMode::Score {
        let mut not_closer = a.create_label();
        a.mov(rax, qword_ptr(l.differing))?;
        a.cmp(rax, qword_ptr(l.best_words))?;
        a.jae(not_closer)?;
        a.mov(qword_ptr(l.best_words), rax)?;
        a.mov(rax, qword_ptr(l.passes))?;
        a.mov(qword_ptr(l.best_pass), rax)?;
        a.set_label(&mut not_closer)?;
        a.nop()?;
    }
    a.mov(rax, qword_ptr(l.passes))?;
    a.cmp(rax, qword_ptr(l.accept_pass))?;
    a.jne(l.miss)?;
    Ok(())
}

/// Saves the x87/SSE state into the page (`fxsave` changes no register)
/// and compares what `vector` recorded of it, with rax as scratch; a
/// difference goes to `miss`.
fn compare_vector_state(
    a: &mut CodeAssembler,
    fx_words: &[CodeLabel],
    vector: &VectorTarget<'_>,
    miss: CodeLabel,
) -> Result<(), IcedError> {
    let word = |offset: usize| fx_words[offset / 8];
    a.fxsave64(ptr(word(0)))?;
    a.mov(eax, vector.mxcsr)?;
    a.cmp(eax, dword_ptr(word(FXSAVE_MXCSR)))?;
    a.jne(miss)?;
    compare_words(a, &fx_words[FXSAVE_XMM / 8..], vector.xmm, miss)?;
    if vector.x87.len() != trace::VectorState::X87_LEN {
        return Ok(());
    }
    // The control and status words, then the abridged tag byte after them.
    let header = vector.x87;
    a.mov(
        eax,
        u32::from_le_bytes([header[0], header[1], header[2], header[3]]),
    )?;
    a.cmp(eax, dword_ptr(word(0)))?;
    a.jne(miss)?;
    a.mov(rax, qword_ptr(word(0)))?;
    a.shr(rax, 32)?;
    a.cmp(al, u32::from(header[4]))?;
    a.jne(miss)?;
    // Only the registers that hold values: an empty one keeps stale bits.
    const LEN: usize = trace::VectorState::X87_REGISTER_LEN;
    for st in (0..8).filter(|&st| trace::VectorState::x87_register_valid(header, st)) {
        let recorded = &header[8 + st * LEN..8 + (st + 1) * LEN];
        let slot = FXSAVE_ST + st * ST_SLOT;
        compare_words(a, &fx_words[slot / 8..], &recorded[..8], miss)?;
        a.mov(
            ax,
            u32::from(u16::from_le_bytes([recorded[8], recorded[9]])),
        )?;
        a.cmp(ax, word_ptr(word(slot + 8)))?;
        a.jne(miss)?;
    }
    Ok(())
}

/// Saves the AVX component into the page with `xsave` (edx:eax is its
/// mask; rdx is kept in `save_rdx`, the flags were saved before) and
/// compares the upper ymm halves there with `ymm_high`. A component the
/// CPU holds in its initial state (XSTATE_BV clear) is zeros, and `xsave`
/// may leave its bytes in the page as an earlier pass wrote them.
fn compare_upper_ymm(
    a: &mut CodeAssembler,
    xsave_words: &[CodeLabel],
    save_rdx: CodeLabel,
    ymm_high: &[u8],
    miss: CodeLabel,
) -> Result<(), IcedError> {
    a.mov(qword_ptr(save_rdx), rdx)?;
    a.mov(eax, XSAVE_AVX_MASK)?;
    a.xor(edx, edx)?;
    a.xsave64(ptr(xsave_words[0]))?;
    a.mov(rdx, qword_ptr(save_rdx))?;
    let mut compared = a.create_label();
    a.mov(rax, qword_ptr(xsave_words[XSAVE_HEADER / 8]))?;
    a.test(eax, XSAVE_AVX_MASK)?;
    if ymm_high.iter().all(|&b| b == 0) {
        a.jz(compared)?;
    } else {
        a.jz(miss)?;
    }
    compare_words(a, &xsave_words[XSAVE_AVX / 8..], ymm_high, miss)?;
    a.set_label(&mut compared)?;
    a.nop()
}

/// Compares the words at `labels` with `expected`, 8 bytes each, with rax
/// as scratch; a difference goes to `miss`.
fn compare_words(
    a: &mut CodeAssembler,
    labels: &[CodeLabel],
    expected: &[u8],
    miss: CodeLabel,
) -> Result<(), IcedError> {
    for (label, bytes) in labels.iter().zip(expected.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        a.mov(rax, u64::from_le_bytes(word))?;
        a.cmp(rax, qword_ptr(*label))?;
        a.jne(miss)?;
    }
    Ok(())
}

/// Puts ax (the flags snapshot) and rax back: `add al, 0x7f` sets OF exactly
/// when al was 1, and `sahf` restores the rest from ah.
fn restore(a: &mut CodeAssembler, flags: CodeLabel, saved_rax: CodeLabel) -> Result<(), IcedError> {
    a.mov(ax, word_ptr(flags))?;
    a.add(al, 0x7f)?;
    a.sahf()?;
    a.mov(rax, qword_ptr(saved_rax))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_snapshot_matches_lahf_layout() {
        // CF|ZF|OF
        let eflags = 0x1 | 0x40 | 0x800 | 0x202;
        assert_eq!(flags_snapshot(eflags), 0x4301);
    }

    #[test]
    fn probe_jumps_to_its_page_and_relocates_rip_relative_code() {
        // mov eax, [rip+0x100] (6 bytes) at 0x40_1000
        let original = [0x8b, 0x05, 0x00, 0x01, 0x00, 0x00];
        let page = 0x40_0000;
        let probe = build(
            0x40_1000,
            &original,
            page,
            PointTarget {
                regs: &Regs::default(),
                words: &[],
                vector: None,
            },
            ProbeMode::Compare,
            NearMisses::new(0),
        )
        .unwrap();
        assert_eq!(probe.patch[0], 0xe9);
        assert_eq!(probe.patch.len(), 6);
        assert_eq!(probe.patch[5], 0xcc);
        let rel = i32::from_le_bytes(probe.patch[1..5].try_into().unwrap());
        assert_eq!(0x40_1005i64 + i64::from(rel), (page + DATA_LEN) as i64);
        assert!(probe.hit > page + DATA_LEN && probe.resume_miss > probe.hit);
        assert!((probe.code.len() as u64) < PROBE_LEN);
        // The relocated load still reads 0x40_1106.
        let offset = (probe.resume_miss - page) as usize;
        let tail = &probe.code[offset..];
        let mut found = false;
        let mut decoder = Decoder::with_ip(64, tail, probe.resume_miss, DecoderOptions::NONE);
        for insn in decoder.iter() {
            if insn.is_ip_rel_memory_operand() {
                assert_eq!(insn.ip_rel_memory_address(), 0x40_1106);
                found = true;
            }
        }
        assert!(found, "relocated instruction present");
    }

    #[test]
    fn only_whole_long_instructions_are_displaced_alone() {
        let cases: [(&[u8], Option<usize>); 8] = [
            (&[0xe8, 0, 1, 0, 0, 0x90], Some(5)),    // call rel32
            (&[0x8b, 0x05, 0, 1, 0, 0], Some(6)),    // mov eax, [rip+x]
            (&[0xe9, 0, 1, 0, 0], Some(5)),          // jmp rel32
            (&[0x01, 0xd8, 0x90, 0x90, 0x90], None), // add eax, ebx: 2 bytes
            (&[0xff, 0xd0, 0x90, 0x90, 0x90], None), // call rax
            (&[0xff, 0x15, 0, 1, 0, 0], None),       // call [rip+x]
            (&[0x0f, 0x05, 0x90, 0x90, 0x90], None), // syscall
            (&[0x0f, 0xa2, 0x90, 0x90, 0x90], None), // cpuid
        ];
        for (bytes, expected) in cases {
            assert_eq!(displaceable_alone(0x1000, bytes), expected, "{bytes:x?}");
        }
    }

    #[test]
    fn a_displaced_direct_call_returns_to_the_instruction_after_it() {
        // call +0x100 at 0x40_1000: target 0x40_1105, returns to 0x40_1005.
        let original = [0xe8, 0x00, 0x01, 0x00, 0x00];
        let page = 0x40_0000;
        let target = Regs::default();
        let point = PointTarget {
            regs: &target,
            words: &[],
            vector: None,
        };
        let probe = build(
            0x40_1000,
            &original,
            page,
            point,
            ProbeMode::Compare,
            NearMisses::new(0),
        )
        .unwrap();
        let offset = (probe.resume_miss - page) as usize;
        let resumed: Vec<Instruction> = Decoder::with_ip(
            64,
            &probe.code[offset..],
            probe.resume_miss,
            DecoderOptions::NONE,
        )
        .iter()
        .take(4)
        .collect();
        let mnemonics: Vec<_> = resumed.iter().map(|i| i.mnemonic()).collect();
        use iced_x86::Mnemonic::{Jmp, Mov, Push, Xchg};
        assert_eq!(mnemonics, [Push, Mov, Xchg, Jmp]);
        assert_eq!(resumed[1].immediate64(), 0x40_1005);
        assert_eq!(resumed[3].near_branch_target(), 0x40_1105);
        assert!(resumed
            .iter()
            .all(|i| i.mnemonic() != iced_x86::Mnemonic::Call));
    }

    #[test]
    fn a_probe_with_vector_state_saves_it_into_its_page_and_fits() {
        let (xmm, x87, ymm_high) = ([1u8; 256], [2u8; trace::VectorState::X87_LEN], [3u8; 256]);
        let page = 0x40_0000;
        let probe = build(
            0x40_1000,
            &[0x90; 5],
            page,
            PointTarget {
                regs: &Regs::default(),
                words: &[],
                vector: Some(VectorTarget {
                    mxcsr: 0x1f80,
                    xmm: &xmm,
                    x87: &x87,
                    ymm_high: &ymm_high,
                }),
            },
            ProbeMode::Compare,
            NearMisses::new(0),
        )
        .unwrap();
        assert!((probe.code.len() as u64) < PROBE_LEN);
        let code = &probe.code[DATA_LEN as usize..];
        let saves: Vec<(iced_x86::Mnemonic, u64)> =
            Decoder::with_ip(64, code, page + DATA_LEN, DecoderOptions::NONE)
                .iter()
                .filter(|i| {
                    matches!(
                        i.mnemonic(),
                        iced_x86::Mnemonic::Fxsave64 | iced_x86::Mnemonic::Xsave64
                    )
                })
                .map(|i| (i.mnemonic(), i.ip_rel_memory_address()))
                .collect();
        assert_eq!(
            saves,
            [
                (iced_x86::Mnemonic::Fxsave64, page + FXSAVE_AT as u64),
                (iced_x86::Mnemonic::Xsave64, page + XSAVE_AT as u64),
            ]
        );
    }

    #[test]
    fn a_page_beyond_two_gib_is_refused() {
        let r = build(
            0x1000,
            &[0x90; 5],
            0x1_0000_0000,
            PointTarget {
                regs: &Regs::default(),
                words: &[],
                vector: None,
            },
            ProbeMode::Compare,
            NearMisses::new(0),
        );
        assert!(matches!(r, Err(ProbeError::OutOfRange { .. })));
    }
}

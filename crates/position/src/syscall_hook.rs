//! The patch that sends a libc syscall instruction to the syscall buffer
//! (and a program's `rdtsc`, which the buffer records as a pseudo-syscall).
//!
//! The 2-byte `syscall` and the whole instructions after it, at least 5
//! bytes in all, become a `jmp` to a stub; the stub calls the preload
//! library's hook below the red zone, runs the displaced instructions
//! (relocated) and jumps back after them. Only instructions that fall
//! through may be displaced: a branch among them would need its target
//! rewritten, and glibc's wrappers never need that (`syscall; cmp rax,
//! -4096` is 8 bytes).

use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, Decoder, DecoderOptions, FlowControl, IcedError};

const SYSCALL: [u8; 2] = [0x0f, 0x05];
const JMP_LEN: usize = 5;
/// The System V red zone, which the interrupted code may be using.
const RED_ZONE: i32 = 128;
/// Bytes of code after the site a caller should pass.
pub const SITE_READ_LEN: usize = 2 + 3 * 15;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("no syscall instruction at {site:#x}")]
    NotASyscall { site: u64 },
    #[error("no rdtsc or rdtscp instruction at {site:#x}")]
    NotATscRead { site: u64 },
    #[error("the code after the syscall at {site:#x} cannot be displaced: {why}")]
    NotDisplaceable { site: u64, why: &'static str },
    #[error("the stub at {stub:#x} is out of jump range of {site:#x}")]
    OutOfRange { site: u64, stub: u64 },
    #[error("cannot assemble the stub for {site:#x}: {source}")]
    Assemble { site: u64, source: IcedError },
}

#[derive(Debug, Clone)]
pub struct HookPatch {
    /// Where `site_bytes` go: the syscall, or the `mov` before it.
    pub start: u64,
    /// Code to write at the stub address.
    pub stub: Vec<u8>,
    /// Bytes that replace the site: the jump, then `int3` filler.
    pub site_bytes: Vec<u8>,
    /// Where a thread stopped just after the original `syscall` (inside the
    /// patched bytes now) continues: the displaced instructions.
    pub resume: u64,
}

/// `mov eax, imm32`, which glibc puts right before most syscalls.
const MOV_EAX_IMM32: u8 = 0xb8;

/// Builds the patch for the `rdtsc` (`insn_len` 2) or `rdtscp` (3) at
/// `site`, whose code from `site` on is `code`: the stub puts `pseudo_nr`
/// in eax (which the instruction overwrites anyway) and calls the hook,
/// which answers in eax, edx (and ecx), then runs the instructions after
/// it. Only instructions after it are displaced.
pub fn build_tsc_read(
    site: u64,
    insn_len: usize,
    code: &[u8],
    stub: u64,
    hook_entry: u64,
    pseudo_nr: u32,
) -> Result<HookPatch, HookError> {
    const RDTSC: [u8; 2] = [0x0f, 0x31];
    const RDTSCP: [u8; 3] = [0x0f, 0x01, 0xf9];
    let expected: &[u8] = if insn_len == 2 { &RDTSC } else { &RDTSCP };
    if code.get(..insn_len) != Some(expected) {
        return Err(HookError::NotATscRead { site });
    }
    let after = displaced_after(site, insn_len, code)?;
    let mov = iced_x86::Instruction::with2(
        iced_x86::Code::Mov_r32_imm32,
        iced_x86::Register::EAX,
        pseudo_nr,
    )
    .map_err(|source| HookError::Assemble { site, source })?;
    assemble(site, insn_len, site, &[mov], &after, stub, hook_entry)
}

/// Builds the patch for the syscall at `site`, whose code from `site` on
/// is `code` (at least [`SITE_READ_LEN`] bytes when available) and whose
/// 5 bytes before are `before`.
///
/// The instructions after the syscall are displaced when they can be;
/// otherwise (`syscall; ret`) a `mov eax, imm32` right before it is, and
/// the stub jumps back to the instruction after the syscall, where a thread
/// already inside the kernel at this site also returns.
pub fn build(
    site: u64,
    before: &[u8],
    code: &[u8],
    stub: u64,
    hook_entry: u64,
) -> Result<HookPatch, HookError> {
    if code.get(..2) != Some(&SYSCALL[..]) {
        return Err(HookError::NotASyscall { site });
    }
    match displaced_after(site, SYSCALL.len(), code) {
        Ok(after) => assemble(site, SYSCALL.len(), site, &[], &after, stub, hook_entry),
        Err(why) if before.len() == 5 && before[0] == MOV_EAX_IMM32 => {
            let start = site - 5;
            let mut decoder = Decoder::with_ip(64, before, start, DecoderOptions::NONE);
            let mov = decoder.decode();
            if mov.is_invalid() || mov.len() != 5 {
                return Err(why);
            }
            assemble(site, SYSCALL.len(), start, &[mov], &[], stub, hook_entry)
        }
        Err(why) => Err(why),
    }
}

/// Whole fall-through instructions after the `insn_len`-byte instruction
/// at `site`, covering the rest of a jump's 5 bytes.
fn displaced_after(
    site: u64,
    insn_len: usize,
    code: &[u8],
) -> Result<Vec<iced_x86::Instruction>, HookError> {
    let refuse = |why| HookError::NotDisplaceable { site, why };
    let mut displaced = Vec::new();
    let rest = code.get(insn_len..).unwrap_or_default();
    let mut decoder = Decoder::with_ip(64, rest, site + insn_len as u64, DecoderOptions::NONE);
    let mut window = insn_len;
    while window < JMP_LEN {
        if !decoder.can_decode() {
            return Err(refuse("it ends before 5 bytes"));
        }
        let insn = decoder.decode();
        if insn.is_invalid() {
            return Err(refuse("it does not decode"));
        }
        if insn.flow_control() != FlowControl::Next {
            return Err(refuse("a branch follows the syscall"));
        }
        window += insn.len();
        displaced.push(insn);
    }
    Ok(displaced)
}

/// The stub runs `before`, the hook, then `after`, and jumps back past the
/// patched window `start..`, which ends after the `insn_len`-byte
/// instruction at `site` and `after`.
fn assemble(
    site: u64,
    insn_len: usize,
    start: u64,
    before: &[iced_x86::Instruction],
    after: &[iced_x86::Instruction],
    stub: u64,
    hook_entry: u64,
) -> Result<HookPatch, HookError> {
    let rel = stub.wrapping_sub(start.wrapping_add(JMP_LEN as u64)) as i64;
    if i32::try_from(rel).is_err() {
        return Err(HookError::OutOfRange { site, stub });
    }
    let end = site + insn_len as u64 + after.iter().map(|i| i.len() as u64).sum::<u64>();
    let asm_err = |source| HookError::Assemble { site, source };
    let mut a = CodeAssembler::new(64).map_err(asm_err)?;
    let mut resume = a.create_label();
    (|| -> Result<(), IcedError> {
        for insn in before {
            a.add_instruction(*insn)?;
        }
        a.lea(rsp, qword_ptr(rsp - RED_ZONE))?;
        a.call(hook_entry)?;
        a.lea(rsp, qword_ptr(rsp + RED_ZONE))?;
        a.set_label(&mut resume)?;
        for insn in after {
            a.add_instruction(*insn)?;
        }
        a.jmp(end)?;
        Ok(())
    })()
    .map_err(asm_err)?;
    let result = a
        .assemble_options(stub, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
        .map_err(asm_err)?;
    // A thread that was inside this syscall returns to the instruction
    // after it: inside the window only when instructions after it were
    // displaced.
    let resume = if after.is_empty() {
        site + insn_len as u64
    } else {
        result.label_ip(&resume).map_err(asm_err)?
    };
    let mut site_bytes = vec![0xe9];
    site_bytes.extend_from_slice(&(rel as i32).to_le_bytes());
    site_bytes.resize((end - start) as usize, 0xcc);
    Ok(HookPatch {
        start,
        stub: result.inner.code_buffer,
        site_bytes,
        resume,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_wrapper_is_patched_and_displaced_code_relocated() {
        // syscall; cmp rax, -4096; ja +0x5b; ret
        let code = [
            0x0f, 0x05, 0x48, 0x3d, 0x00, 0xf0, 0xff, 0xff, 0x77, 0x5b, 0xc3,
        ];
        let site = 0x7fff_0000_1000;
        let patch = build(site, &[0; 5], &code, site + 0x10_0000, site + 0x10_1000).unwrap();
        assert_eq!(patch.start, site);
        assert_eq!(patch.site_bytes.len(), 8);
        assert_eq!(patch.site_bytes[0], 0xe9);
        assert!(patch.site_bytes[5..].iter().all(|&b| b == 0xcc));
        // lea (5) + call (5) + lea (8) precede the displaced cmp.
        assert_eq!(patch.resume, site + 0x10_0000 + 18);
        let jmp = &patch.stub[patch.stub.len() - 5..];
        assert_eq!(jmp[0], 0xe9);
    }

    #[test]
    fn a_branch_right_after_the_syscall_is_refused() {
        let code = [0x0f, 0x05, 0x77, 0x10, 0x90, 0x90];
        assert!(matches!(
            build(0x1000, &[0x90; 5], &code, 0x2000, 0x3000),
            Err(HookError::NotDisplaceable { .. })
        ));
        assert!(matches!(
            build(0x1000, &[0x90; 5], &[0x90, 0x90], 0x2000, 0x3000),
            Err(HookError::NotASyscall { .. })
        ));
    }

    #[test]
    fn rdtsc_calls_the_hook_with_its_pseudo_number_and_relocates_what_follows() {
        // rdtsc; shl rdx, 32; or rax, rdx; ret
        let code = [0x0f, 0x31, 0x48, 0xc1, 0xe2, 0x20, 0x48, 0x09, 0xd0, 0xc3];
        let site = 0x7fff_0000_2000;
        let stub = site + 0x1000;
        let patch = build_tsc_read(site, 2, &code, stub, site + 0x2000, 0x10_0000).unwrap();
        assert_eq!(patch.start, site);
        // rdtsc and the shl: 6 bytes, a jump and an int3.
        assert_eq!(patch.site_bytes, [0xe9, 0xfb, 0x0f, 0, 0, 0xcc]);
        // mov eax, 0x100000 first.
        assert_eq!(&patch.stub[..5], &[0xb8, 0x00, 0x00, 0x10, 0x00]);
        // mov (5) + lea (5) + call (5) + lea (8) precede the displaced shl.
        assert_eq!(patch.resume, stub + 23);
        assert!(matches!(
            build_tsc_read(site, 3, &code, stub, site + 0x2000, 1),
            Err(HookError::NotATscRead { .. })
        ));
        // rdtscp; ret: nothing to displace.
        assert!(matches!(
            build_tsc_read(
                site,
                3,
                &[0x0f, 0x01, 0xf9, 0xc3, 0x90, 0x90],
                stub,
                site,
                1
            ),
            Err(HookError::NotDisplaceable { .. })
        ));
    }

    #[test]
    fn syscall_then_ret_displaces_the_mov_before_it() {
        // mov eax, 0x6e; syscall; ret  (getppid)
        let before = [0xb8, 0x6e, 0x00, 0x00, 0x00];
        let code = [0x0f, 0x05, 0xc3, 0x90, 0x90, 0x90];
        let site = 0x7fff_0000_1005;
        let patch = build(site, &before, &code, site + 0x1000, site + 0x2000).unwrap();
        assert_eq!(patch.start, site - 5);
        assert_eq!(patch.site_bytes.len(), 7);
        assert_eq!(patch.resume, site + 2);
        assert_eq!(&patch.stub[..5], &before);
    }
}

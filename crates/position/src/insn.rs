//! One instruction as the recorder single-steps it: how long it is, whether
//! it changes control flow or would reach an anchor, and which memory it
//! writes given the registers it runs with.

use iced_x86::{
    Decoder, DecoderOptions, FlowControl, Instruction, InstructionInfoFactory, Mnemonic, OpAccess,
    Register,
};
use trace::event::Regs;

/// The longest x86 instruction.
pub const MAX_INSN_LEN: usize = 15;

/// What an instruction means to the search for a preemption point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsnKind {
    /// Runs straight through to the next instruction.
    Sequential,
    /// May continue elsewhere (jumps, conditional branches, returns).
    Branch,
    /// Pushes a return address: never relocated into a probe, because the
    /// return address would point into the probe page.
    Call,
    /// Reaches an anchor by itself (syscall, trapped rdtsc, a trap or fault
    /// instruction): the thread needs no preemption, it stops there anyway.
    Anchor,
    /// Not decodable: nothing is inferred from it.
    Invalid,
    /// Behaves differently under single-stepping: `pushf` would store the
    /// trap flag the stepping set. The recorder does not step over it.
    Unsteppable,
}

/// A memory range an instruction writes, at most 8 bytes long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Written {
    pub addr: u64,
    pub len: u8,
}

#[derive(Debug, Clone)]
pub struct Decoded {
    pub len: u8,
    pub kind: InsnKind,
    pub writes: Vec<Written>,
    /// A string instruction with a `rep` prefix: a single step runs one
    /// element of it, so a `memcpy` of 8 KiB takes 8192 steps.
    pub repeated: bool,
}

/// Writes larger than this are only partly watched; the first bytes move
/// with every pass of a loop as much as the rest do.
const MAX_WATCHED_PER_WRITE: u64 = 32;

/// Decodes the instruction at `rip` from `bytes` (up to 15 bytes read there).
pub fn decode(rip: u64, bytes: &[u8], regs: &Regs) -> Decoded {
    let mut decoder = Decoder::with_ip(64, bytes, rip, DecoderOptions::NONE);
    let insn = decoder.decode();
    if insn.is_invalid() {
        return Decoded {
            len: 0,
            kind: InsnKind::Invalid,
            writes: Vec::new(),
            repeated: false,
        };
    }
    Decoded {
        len: insn.len() as u8,
        kind: classify(&insn),
        writes: writes(&insn, regs),
        repeated: insn.is_string_instruction()
            && (insn.has_rep_prefix() || insn.has_repne_prefix()),
    }
}

/// Where the loop whose code is `bytes` (at `low`, up to its highest
/// instruction's end) and whose back edge is the conditional branch at
/// `back_edge` is left: just after that branch. `None` unless that is the
/// only way out: every instruction in the range runs straight on, or
/// branches directly to somewhere inside it, or is that back edge. No
/// call, syscall, trap, indirect or outward jump, so that the loop can run
/// at full speed to its exit without making a syscall the tracer would
/// not see (it runs under `PTRACE_CONT`).
pub fn only_exit_of_loop(low: u64, bytes: &[u8], back_edge: u64) -> Option<u64> {
    let high = low + bytes.len() as u64;
    let mut decoder = Decoder::with_ip(64, bytes, low, DecoderOptions::NONE);
    let mut exit = None;
    while decoder.can_decode() {
        let insn = decoder.decode();
        if insn.is_invalid() || classify(&insn) == InsnKind::Anchor {
            return None;
        }
        let inside = |target: u64| (low..high).contains(&target);
        match insn.flow_control() {
            FlowControl::Next if classify(&insn) == InsnKind::Sequential => {}
            FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch
                if inside(insn.near_branch_target()) =>
            {
                if insn.ip() == back_edge {
                    if insn.flow_control() != FlowControl::ConditionalBranch {
                        return None;
                    }
                    exit = Some(insn.next_ip());
                }
            }
            _ => return None,
        }
    }
    exit.filter(|_| decoder.ip() == high)
}

/// Where the instructions in `bytes` (the code at `base`) start.
pub fn instruction_starts(base: u64, bytes: &[u8]) -> Vec<u64> {
    let mut decoder = Decoder::with_ip(64, bytes, base, DecoderOptions::NONE);
    let mut starts = Vec::new();
    while decoder.can_decode() {
        starts.push(decoder.ip());
        let _ = decoder.decode();
    }
    starts
}

/// Addresses of the instructions that, decoded from there, end exactly at
/// `end`: the candidates for the instruction executed before the one at
/// `end` when control fell through. `bytes` are the bytes just before
/// `end` (64 or so). x86 cannot be decoded backwards, so some start inside
/// another instruction; a caller that stops at them must not patch memory.
/// Most likely first: decoding forward from each byte of `bytes` soon falls
/// into step with the real instruction boundaries, so the start that most
/// of those decodings reach `end` through comes first.
pub fn instructions_ending_at(bytes: &[u8], end: u64) -> Vec<u64> {
    let base = end - bytes.len() as u64;
    let mut votes: Vec<(u64, u32)> = Vec::new();
    for from in 0..bytes.len() {
        let mut decoder =
            Decoder::with_ip(64, &bytes[from..], base + from as u64, DecoderOptions::NONE);
        let mut previous = None;
        while decoder.can_decode() {
            let at = decoder.ip();
            let insn = decoder.decode();
            if insn.is_invalid() {
                break;
            }
            previous = Some(at);
            if insn.next_ip() == end {
                break;
            }
        }
        let reached = decoder.ip() == end && !decoder.can_decode();
        if let (true, Some(at)) = (reached, previous) {
            match votes.iter_mut().find(|(start, _)| *start == at) {
                Some((_, n)) => *n += 1,
                None => votes.push((at, 1)),
            }
        }
    }
    votes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    votes.into_iter().map(|(at, _)| at).collect()
}

/// The `call` that a return address `ret` follows, if the bytes before it
/// (`bytes`, ending at `ret`) end with one: its address, and its target
/// when the call is direct.
pub fn call_before(bytes: &[u8], ret: u64) -> Option<(u64, Option<u64>)> {
    // A direct call is 5 bytes; an indirect one 2 to 7.
    for len in [5usize, 2, 3, 4, 6, 7] {
        if len > bytes.len() {
            continue;
        }
        let at = ret - len as u64;
        let code = &bytes[bytes.len() - len..];
        let mut decoder = Decoder::with_ip(64, code, at, DecoderOptions::NONE);
        let insn = decoder.decode();
        if insn.is_invalid()
            || insn.len() != len
            || insn.flow_control() != FlowControl::Call
                && insn.flow_control() != FlowControl::IndirectCall
        {
            continue;
        }
        let target =
            (insn.op0_kind() == iced_x86::OpKind::NearBranch64).then(|| insn.near_branch_target());
        return Some((at, target));
    }
    None
}

/// The direct jump and branch targets in `bytes`, decoded one instruction
/// after another from `base`. A single-stepped pass sees only the branches
/// it took; the code around the loop says where others can land.
pub fn direct_branch_targets(base: u64, bytes: &[u8]) -> Vec<u64> {
    let mut decoder = Decoder::with_ip(64, bytes, base, DecoderOptions::NONE);
    let mut targets = Vec::new();
    while decoder.can_decode() {
        let insn = decoder.decode();
        let branch = matches!(
            insn.flow_control(),
            FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
        );
        if branch && insn.op0_kind() == iced_x86::OpKind::NearBranch64 {
            targets.push(insn.near_branch_target());
        }
    }
    targets
}

fn classify(insn: &Instruction) -> InsnKind {
    let anchor = matches!(
        insn.mnemonic(),
        Mnemonic::Syscall
            | Mnemonic::Sysenter
            | Mnemonic::Int
            | Mnemonic::Int1
            | Mnemonic::Int3
            | Mnemonic::Into
            | Mnemonic::Rdtsc
            | Mnemonic::Rdtscp
            | Mnemonic::Ud0
            | Mnemonic::Ud1
            | Mnemonic::Ud2
            | Mnemonic::Hlt
            | Mnemonic::Xbegin
    );
    if anchor {
        return InsnKind::Anchor;
    }
    if matches!(
        insn.mnemonic(),
        Mnemonic::Pushf | Mnemonic::Pushfd | Mnemonic::Pushfq
    ) {
        return InsnKind::Unsteppable;
    }
    match insn.flow_control() {
        FlowControl::Next => InsnKind::Sequential,
        FlowControl::Call | FlowControl::IndirectCall => InsnKind::Call,
        FlowControl::Interrupt | FlowControl::Exception | FlowControl::XbeginXabortXend => {
            InsnKind::Anchor
        }
        _ => InsnKind::Branch,
    }
}

fn register_value(regs: &Regs, register: Register) -> Option<u64> {
    let full = register.full_register();
    let value = match full {
        Register::RAX => regs.rax,
        Register::RBX => regs.rbx,
        Register::RCX => regs.rcx,
        Register::RDX => regs.rdx,
        Register::RSI => regs.rsi,
        Register::RDI => regs.rdi,
        Register::RBP => regs.rbp,
        Register::RSP => regs.rsp,
        Register::R8 => regs.r8,
        Register::R9 => regs.r9,
        Register::R10 => regs.r10,
        Register::R11 => regs.r11,
        Register::R12 => regs.r12,
        Register::R13 => regs.r13,
        Register::R14 => regs.r14,
        Register::R15 => regs.r15,
        Register::RIP => regs.rip,
        Register::FS => return Some(regs.fs_base),
        Register::GS => return Some(regs.gs_base),
        Register::ES | Register::CS | Register::SS | Register::DS => return Some(0),
        _ => return None,
    };
    Some(match register.size() {
        4 => value & 0xffff_ffff,
        2 => value & 0xffff,
        1 => value & 0xff,
        _ => value,
    })
}

fn writes(insn: &Instruction, regs: &Regs) -> Vec<Written> {
    let mut factory = InstructionInfoFactory::new();
    let info = factory.info(insn);
    let mut out = Vec::new();
    for used in info.used_memory() {
        let writes = matches!(
            used.access(),
            OpAccess::Write | OpAccess::ReadWrite | OpAccess::CondWrite | OpAccess::ReadCondWrite
        );
        if !writes {
            continue;
        }
        let Some(addr) = used.virtual_address(0, |reg, _, _| register_value(regs, reg)) else {
            continue;
        };
        let size = (used.memory_size().size() as u64).clamp(1, MAX_WATCHED_PER_WRITE);
        let mut offset = 0;
        while offset < size {
            let len = (size - offset).min(8);
            out.push(Written {
                addr: addr.wrapping_add(offset),
                len: len as u8,
            });
            offset += len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    /// imul rax, rbx; add rax, rcx; sub edx, 1; jne back to the imul.
    const REGISTER_LOOP: [u8; 12] = [
        0x48, 0x0f, 0xaf, 0xc3, 0x48, 0x01, 0xc8, 0x83, 0xea, 0x01, 0x75, 0xf4,
    ];

    #[test]
    fn a_register_loop_is_left_only_past_its_back_edge() {
        let low = 0x11f7;
        assert_eq!(only_exit_of_loop(low, &REGISTER_LOOP, 0x1201), Some(0x1203));
        // Not if the back edge named is not a branch of the loop.
        assert_eq!(only_exit_of_loop(low, &REGISTER_LOOP, 0x11fb), None);
    }

    #[test]
    fn a_loop_with_a_syscall_or_a_jump_out_is_not_run_to_its_exit() {
        let low = 0x1000;
        // syscall; sub edx, 1; jne back.
        let with_syscall = [0x0f, 0x05, 0x83, 0xea, 0x01, 0x75, 0xf9];
        assert_eq!(only_exit_of_loop(low, &with_syscall, 0x1005), None);
        // je far away; sub edx, 1; jne back.
        let jumps_out = [0x74, 0x40, 0x83, 0xea, 0x01, 0x75, 0xf9];
        assert_eq!(only_exit_of_loop(low, &jumps_out, 0x1005), None);
        // call; jne back.
        let calls = [0xe8, 0x00, 0x00, 0x00, 0x00, 0x75, 0xf9];
        assert_eq!(only_exit_of_loop(low, &calls, 0x1005), None);
    }

    use super::*;

    #[test]
    fn a_direct_call_is_found_before_its_return_address() {
        // call +0x10 at 0x1000; then mov eax, 1 at 0x1005.
        let code = [0xe8, 0x10, 0, 0, 0];
        assert_eq!(call_before(&code, 0x1005), Some((0x1000, Some(0x1015))));
        // call rax (ff d0).
        assert_eq!(
            call_before(&[0x90, 0x90, 0x90, 0xff, 0xd0], 0x1005),
            Some((0x1003, None))
        );
        // No call: nops.
        assert_eq!(call_before(&[0x90; 8], 0x1008), None);
    }

    #[test]
    fn fall_through_candidates_end_exactly_at_the_address() {
        // Three instructions: lea rax, [rip+0x2e8f] (7 bytes), mov rdi,
        // rbx (3), mov eax, 1 (5), ending at 0x1010. The real last one
        // comes first; decodes that start inside it may follow.
        let code = [
            0x48, 0x8d, 0x05, 0x8f, 0x2e, 0x00, 0x00, 0x48, 0x89, 0xdf, 0xb8, 1, 0, 0, 0,
        ];
        let end = 0x1000 + code.len() as u64;
        let starts = instructions_ending_at(&code, end);
        assert_eq!(starts.first(), Some(&(end - 5)), "{starts:x?}");
        for at in starts {
            assert!(at < end);
        }
    }

    #[test]
    fn store_through_rip_relative_operand_is_a_write() {
        // mov [rip+0x10], eax  at 0x1000 -> writes 0x1016, 4 bytes.
        let bytes = [0x89, 0x05, 0x10, 0x00, 0x00, 0x00];
        let d = decode(0x1000, &bytes, &Regs::default());
        assert_eq!(d.len, 6);
        assert_eq!(d.kind, InsnKind::Sequential);
        assert_eq!(
            d.writes,
            vec![Written {
                addr: 0x1016,
                len: 4
            }]
        );
    }

    #[test]
    fn push_writes_below_rsp_and_call_is_a_call() {
        let regs = Regs {
            rsp: 0x8000,
            rbx: 7,
            ..Regs::default()
        };
        let push = decode(0x1000, &[0x53], &regs); // push rbx
        assert_eq!(
            push.writes,
            vec![Written {
                addr: 0x7ff8,
                len: 8
            }]
        );
        let call = decode(0x1000, &[0xe8, 0, 0, 0, 0], &regs);
        assert_eq!(call.kind, InsnKind::Call);
    }

    #[test]
    fn syscall_and_rdtsc_are_anchors_and_jumps_are_branches() {
        let r = Regs::default();
        assert_eq!(decode(0, &[0x0f, 0x05], &r).kind, InsnKind::Anchor);
        assert_eq!(decode(0, &[0x0f, 0x31], &r).kind, InsnKind::Anchor);
        assert_eq!(decode(0, &[0x75, 0xfe], &r).kind, InsnKind::Branch);
        assert_eq!(decode(0, &[0xc3], &r).kind, InsnKind::Branch);
        assert_eq!(decode(0, &[0x9c], &r).kind, InsnKind::Unsteppable);
    }

    #[test]
    fn lock_add_to_memory_is_watched() {
        // lock add qword [rbx], 1
        let regs = Regs {
            rbx: 0x4000,
            ..Regs::default()
        };
        let d = decode(0, &[0xf0, 0x48, 0x83, 0x03, 0x01], &regs);
        assert_eq!(
            d.writes,
            vec![Written {
                addr: 0x4000,
                len: 8
            }]
        );
    }
}

//! Keeping the vDSO visible while every clock read still reaches the
//! recorder.
//!
//! The vDSO's functions read the clock in user space, where the recorder
//! cannot see the result. Hiding the vDSO (dropping `AT_SYSINFO_EHDR`)
//! sends libc to the syscalls, but breaks programs that look its symbols up
//! themselves and shows in `/proc/self/auxv`. Instead, as rr does, each
//! function's first bytes become `mov eax, NR; syscall; ret`: a program
//! that finds and calls them gets a real, recorded syscall. The patch is
//! logged as a code patch, so replay writes the same bytes.

use host::vdso::{symbols, GetrandomParams};
use iced_x86::code_asm::*;

/// What a patched vDSO function does instead.
#[derive(Debug, Clone, Copy)]
enum Replacement {
    /// The syscall that does the same, after touching what the real
    /// function writes in user space.
    Syscall(u32, Touches),
    /// `getrandom`'s own protocol: see [`getrandom_stub`].
    Getrandom,
}

/// What a vDSO function writes in user space, which its replacement
/// touches first (reads a value and writes it back) so that a bad pointer
/// faults there, in user code, as it does natively, instead of making the
/// syscall answer EFAULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Touches {
    /// `clock_gettime`: the `timespec` at rsi, NULL included, for the
    /// clocks the vDSO reads itself (others go to the syscall).
    Timespec,
    /// `clock_getres`: the same, unless rsi is NULL.
    TimespecUnlessNull,
    /// `gettimeofday`: the `timeval` at rdi and the `timezone` at rsi,
    /// each unless NULL.
    TimeOfDay,
    /// `time`: 8 bytes at rdi unless NULL.
    Seconds,
    /// `getcpu`: 4 bytes at rdi and at rsi, each unless NULL.
    CpuAndNode,
}

/// The clock ids the vDSO reads in user space: REALTIME, MONOTONIC,
/// MONOTONIC_RAW, REALTIME_COARSE, MONOTONIC_COARSE, BOOTTIME and TAI.
const VDSO_CLOCKS: u32 = 1 << 0 | 1 << 1 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 11;

/// The vDSO functions that read the clock, the CPU or random bytes.
const FUNCTIONS: [(&str, Replacement); 6] = [
    (
        "__vdso_clock_gettime",
        Replacement::Syscall(libc::SYS_clock_gettime as u32, Touches::Timespec),
    ),
    (
        "__vdso_gettimeofday",
        Replacement::Syscall(libc::SYS_gettimeofday as u32, Touches::TimeOfDay),
    ),
    (
        "__vdso_time",
        Replacement::Syscall(libc::SYS_time as u32, Touches::Seconds),
    ),
    (
        "__vdso_clock_getres",
        Replacement::Syscall(libc::SYS_clock_getres as u32, Touches::TimespecUnlessNull),
    ),
    (
        "__vdso_getcpu",
        Replacement::Syscall(libc::SYS_getcpu as u32, Touches::CpuAndNode),
    ),
    ("__vdso_getrandom", Replacement::Getrandom),
];

/// `mov eax, nr; syscall; ret`.
fn syscall_stub(nr: u32) -> Vec<u8> {
    let mut code = vec![0xb8];
    code.extend_from_slice(&nr.to_le_bytes());
    code.extend_from_slice(&[0x0f, 0x05, 0xc3]);
    code
}

/// The syscall `nr` after touching what the real function writes.
fn touching_stub(nr: u32, touches: Touches) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut call = a.create_label();
    // Reads a value and writes it back: a fault where the function's own
    // store would fault, and no change where it would not.
    let touch_qword = |a: &mut CodeAssembler, at: AsmMemoryOperand| -> Result<(), IcedError> {
        a.mov(rax, qword_ptr(at))?;
        a.mov(qword_ptr(at), rax)
    };
    let touch_dword = |a: &mut CodeAssembler, at: AsmMemoryOperand| -> Result<(), IcedError> {
        a.mov(eax, dword_ptr(at))?;
        a.mov(dword_ptr(at), eax)
    };
    match touches {
        Touches::Timespec | Touches::TimespecUnlessNull => {
            a.cmp(edi, 31)?;
            a.ja(call)?;
            a.mov(eax, VDSO_CLOCKS)?;
            a.bt(eax, edi)?;
            a.jae(call)?;
            if touches == Touches::TimespecUnlessNull {
                a.test(rsi, rsi)?;
                a.je(call)?;
            }
            touch_qword(&mut a, rsi + 0)?;
            touch_qword(&mut a, rsi + 8)?;
        }
        Touches::TimeOfDay => {
            let mut timezone = a.create_label();
            a.test(rdi, rdi)?;
            a.je(timezone)?;
            touch_qword(&mut a, rdi + 0)?;
            touch_qword(&mut a, rdi + 8)?;
            a.set_label(&mut timezone)?;
            a.test(rsi, rsi)?;
            a.je(call)?;
            touch_qword(&mut a, rsi + 0)?;
        }
        Touches::Seconds => {
            a.test(rdi, rdi)?;
            a.je(call)?;
            touch_qword(&mut a, rdi + 0)?;
        }
        Touches::CpuAndNode => {
            let mut node = a.create_label();
            a.test(rdi, rdi)?;
            a.je(node)?;
            touch_dword(&mut a, rdi + 0)?;
            a.set_label(&mut node)?;
            a.test(rsi, rsi)?;
            a.je(call)?;
            touch_dword(&mut a, rsi + 0)?;
        }
    }
    a.set_label(&mut call)?;
    a.mov(eax, nr)?;
    a.syscall()?;
    a.ret()?;
    a.assemble(0)
}

/// `mov rax, -ENOSYS; ret`: callers such as glibc then use the syscall.
fn enosys_stub() -> Vec<u8> {
    let mut code = vec![0x48, 0xc7, 0xc0];
    code.extend_from_slice(&(-libc::ENOSYS).to_le_bytes());
    code.push(0xc3);
    code
}

/// `vgetrandom(buffer, len, flags, opaque_state, opaque_len)` as the
/// kernel's does it, except that bytes always come from the `getrandom`
/// syscall (recorded) instead of the state block in user memory: the
/// parameter query (`opaque_len == ~0` and nothing else) gets this kernel's
/// answer, a state block that would straddle a page gets EFAULT, and
/// everything else is the syscall, which the real function falls back to
/// itself for unknown flags or a wrong state length.
fn getrandom_stub(params: GetrandomParams) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut not_query = a.create_label();
    let mut efault = a.create_label();
    a.cmp(r8, -1)?;
    a.jne(not_query)?;
    a.test(rdi, rdi)?;
    a.jne(not_query)?;
    a.test(rsi, rsi)?;
    a.jne(not_query)?;
    a.test(edx, edx)?;
    a.jne(not_query)?;
    a.mov(dword_ptr(rcx), params.size_of_opaque_state)?;
    a.mov(dword_ptr(rcx + 4), params.mmap_prot)?;
    a.mov(dword_ptr(rcx + 8), params.mmap_flags)?;
    a.xor(eax, eax)?;
    for reserved in 0..13 {
        a.mov(dword_ptr(rcx + 12 + 4 * reserved), eax)?;
    }
    a.ret()?;
    a.set_label(&mut not_query)?;
    a.mov(eax, ecx)?;
    a.and(eax, 0xfff)?;
    a.add(eax, params.size_of_opaque_state)?;
    a.cmp(eax, 0x1000)?;
    a.ja(efault)?;
    a.mov(eax, libc::SYS_getrandom as u32)?;
    a.syscall()?;
    a.ret()?;
    a.set_label(&mut efault)?;
    a.mov(rax, -(libc::EFAULT as i64))?;
    a.ret()?;
    a.assemble(0)
}

/// The bytes that replace a function of `size` bytes from its start.
/// `getrandom` without its parameters (a kernel whose own vDSO answers no
/// query) gets ENOSYS; a function too small for the touches gets the plain
/// syscall.
fn stub(replacement: Replacement, size: usize, params: Option<GetrandomParams>) -> Option<Vec<u8>> {
    match (replacement, params) {
        (Replacement::Syscall(nr, touches), _) => Some(
            touching_stub(nr, touches)
                .ok()
                .filter(|code| code.len() <= size)
                .unwrap_or_else(|| syscall_stub(nr)),
        ),
        (Replacement::Getrandom, Some(params)) => getrandom_stub(params).ok(),
        (Replacement::Getrandom, None) => Some(enosys_stub()),
    }
}

/// This kernel's vDSO `getrandom` parameters, asked once of the recorder's
/// own vDSO.
fn own_getrandom_params() -> Option<GetrandomParams> {
    static PARAMS: std::sync::OnceLock<Option<GetrandomParams>> = std::sync::OnceLock::new();
    *PARAMS.get_or_init(host::vdso::getrandom_params)
}

/// The patches for the vDSO `image` mapped at `base`: (address, bytes) for
/// each function it exports that reads the clock. Empty when the image is
/// not an ELF file this understands.
pub fn patches(image: &[u8], base: u64) -> Vec<(u64, Vec<u8>)> {
    patches_with(image, base, own_getrandom_params())
}

fn patches_with(image: &[u8], base: u64, params: Option<GetrandomParams>) -> Vec<(u64, Vec<u8>)> {
    symbols(image)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, value, size)| {
            let (_, replacement) = FUNCTIONS.iter().find(|(n, _)| *n == name)?;
            let code = stub(*replacement, size, params)?;
            (size >= code.len()).then(|| (base + value as u64, code))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Formatter, NasmFormatter};

    #[test]
    fn the_clock_functions_of_this_kernels_vdso_are_patched() {
        let (image, base) = host::vdso::own_image().expect("a vDSO");
        let patches = patches(&image, base);
        assert!(patches.len() >= 3, "{patches:?}");
        for (addr, code) in &patches {
            assert!(*addr >= base && *addr + code.len() as u64 <= base + image.len() as u64);
        }
        let clock = touching_stub(libc::SYS_clock_gettime as u32, Touches::Timespec).unwrap();
        assert!(patches.iter().any(|(_, code)| *code == clock));
        let text = disassemble(&clock);
        for expected in [
            "mov rax,[rsi]",
            "mov [rsi],rax",
            "mov [rsi+8],rax",
            "mov eax,0E4h",
            "syscall",
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
    }

    #[test]
    fn a_function_too_small_for_the_touches_gets_the_plain_syscall() {
        let time = Replacement::Syscall(libc::SYS_time as u32, Touches::Seconds);
        let touching = stub(time, 40, None).unwrap();
        assert!(disassemble(&touching).contains("mov rax,[rdi]"));
        let plain = stub(time, touching.len() - 1, None).unwrap();
        assert_eq!(plain, [0xb8, 201, 0, 0, 0, 0x0f, 0x05, 0xc3]);
    }

    fn disassemble(code: &[u8]) -> String {
        let mut decoder = Decoder::new(64, code, DecoderOptions::NONE);
        let mut formatter = NasmFormatter::new();
        let mut text = String::new();
        for insn in decoder.iter() {
            formatter.format(&insn, &mut text);
            text.push('\n');
        }
        text
    }

    #[test]
    fn getrandom_answers_the_query_and_otherwise_makes_the_syscall() {
        let params = GetrandomParams {
            size_of_opaque_state: 144,
            mmap_prot: 3,
            mmap_flags: 0x28,
        };
        let code = getrandom_stub(params).expect("assembles");
        let text = disassemble(&code);
        for expected in [
            "mov dword [rcx],90h",
            "mov dword [rcx+8],28h",
            "mov eax,13Eh",
            "syscall",
            "add eax,90h",
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
        assert_eq!(text.matches("ret").count(), 3, "{text}");
        // Without parameters the old answer stands.
        assert_eq!(stub(Replacement::Getrandom, 947, None), Some(enosys_stub()));
    }

    #[test]
    fn anything_but_an_elf_image_gets_no_patches() {
        assert!(patches(b"not an elf", 0x1000).is_empty());
        assert!(patches(b"\x7fELF", 0x1000).is_empty());
        assert!(patches(&[], 0x1000).is_empty());
    }
}

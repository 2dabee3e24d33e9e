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
    /// The syscall that does the same.
    Syscall(u32),
    /// `getrandom`'s own protocol: see [`getrandom_stub`].
    Getrandom,
}

/// The vDSO functions that read the clock, the CPU or random bytes.
const FUNCTIONS: [(&str, Replacement); 6] = [
    (
        "__vdso_clock_gettime",
        Replacement::Syscall(libc::SYS_clock_gettime as u32),
    ),
    (
        "__vdso_gettimeofday",
        Replacement::Syscall(libc::SYS_gettimeofday as u32),
    ),
    ("__vdso_time", Replacement::Syscall(libc::SYS_time as u32)),
    (
        "__vdso_clock_getres",
        Replacement::Syscall(libc::SYS_clock_getres as u32),
    ),
    (
        "__vdso_getcpu",
        Replacement::Syscall(libc::SYS_getcpu as u32),
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

/// The bytes that replace a function's start. `getrandom` without its
/// parameters (a kernel whose own vDSO answers no query) gets ENOSYS.
fn stub(replacement: Replacement, params: Option<GetrandomParams>) -> Option<Vec<u8>> {
    match (replacement, params) {
        (Replacement::Syscall(nr), _) => Some(syscall_stub(nr)),
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
            let code = stub(*replacement, params)?;
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
        let clock = syscall_stub(libc::SYS_clock_gettime as u32);
        assert_eq!(clock, [0xb8, 228, 0, 0, 0, 0x0f, 0x05, 0xc3]);
        assert!(patches.iter().any(|(_, code)| *code == clock));
    }

    #[test]
    fn getrandom_answers_the_query_and_otherwise_makes_the_syscall() {
        let params = GetrandomParams {
            size_of_opaque_state: 144,
            mmap_prot: 3,
            mmap_flags: 0x28,
        };
        let code = getrandom_stub(params).expect("assembles");
        let mut decoder = Decoder::new(64, &code, DecoderOptions::NONE);
        let mut formatter = NasmFormatter::new();
        let mut text = String::new();
        for insn in decoder.iter() {
            formatter.format(&insn, &mut text);
            text.push('\n');
        }
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
        assert_eq!(stub(Replacement::Getrandom, None), Some(enosys_stub()));
    }

    #[test]
    fn anything_but_an_elf_image_gets_no_patches() {
        assert!(patches(b"not an elf", 0x1000).is_empty());
        assert!(patches(b"\x7fELF", 0x1000).is_empty());
        assert!(patches(&[], 0x1000).is_empty());
    }
}

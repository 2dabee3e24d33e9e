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

/// The vDSO functions that read the clock or the CPU, with the syscall that
/// does the same. `getrandom`'s vDSO entry has its own protocol (a state
/// block the caller allocates); answering ENOSYS there makes libc use the
/// syscall.
const FUNCTIONS: [(&str, Option<u32>); 6] = [
    ("__vdso_clock_gettime", Some(libc::SYS_clock_gettime as u32)),
    ("__vdso_gettimeofday", Some(libc::SYS_gettimeofday as u32)),
    ("__vdso_time", Some(libc::SYS_time as u32)),
    ("__vdso_clock_getres", Some(libc::SYS_clock_getres as u32)),
    ("__vdso_getcpu", Some(libc::SYS_getcpu as u32)),
    ("__vdso_getrandom", None),
];

const SHT_DYNSYM: u32 = 11;
const PT_LOAD: u32 = 1;

/// The bytes that replace a function's start.
fn stub(syscall: Option<u32>) -> Vec<u8> {
    match syscall {
        // mov eax, nr; syscall; ret
        Some(nr) => {
            let mut code = vec![0xb8];
            code.extend_from_slice(&nr.to_le_bytes());
            code.extend_from_slice(&[0x0f, 0x05, 0xc3]);
            code
        }
        // mov rax, -ENOSYS; ret
        None => {
            let mut code = vec![0x48, 0xc7, 0xc0];
            code.extend_from_slice(&(-libc::ENOSYS).to_le_bytes());
            code.push(0xc3);
            code
        }
    }
}

fn u16_at(image: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(image.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(image: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(image.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(image: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u64::from_le_bytes(image.get(at..at + 8)?.try_into().ok()?)).ok()
}

/// The patches for the vDSO `image` mapped at `base`: (address, bytes) for
/// each function it exports that reads the clock. Empty when the image is
/// not an ELF file this understands.
pub fn patches(image: &[u8], base: u64) -> Vec<(u64, Vec<u8>)> {
    symbols(image)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, value, size)| {
            let (_, syscall) = FUNCTIONS.iter().find(|(n, _)| *n == name)?;
            let code = stub(*syscall);
            (size >= code.len()).then(|| (base + value as u64, code))
        })
        .collect()
}

/// (name, offset in the image, size) of each dynamic symbol.
fn symbols(image: &[u8]) -> Option<Vec<(String, usize, usize)>> {
    if image.get(..4)? != b"\x7fELF" {
        return None;
    }
    // Symbol values are link-time addresses; the first PT_LOAD says where
    // the image's start was linked.
    let (phoff, phentsize, phnum) = (
        u64_at(image, 0x20)?,
        usize::from(u16_at(image, 0x36)?),
        usize::from(u16_at(image, 0x38)?),
    );
    let linked_at = (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&ph| u32_at(image, ph) == Some(PT_LOAD))
        .and_then(|ph| u64_at(image, ph + 16))?;
    let (shoff, shentsize, shnum) = (
        u64_at(image, 0x28)?,
        usize::from(u16_at(image, 0x3a)?),
        usize::from(u16_at(image, 0x3c)?),
    );
    let section = |i: usize| shoff + i * shentsize;
    let dynsym = (0..shnum).find(|&i| u32_at(image, section(i) + 4) == Some(SHT_DYNSYM))?;
    let (sym_offset, sym_size, strtab) = (
        u64_at(image, section(dynsym) + 24)?,
        u64_at(image, section(dynsym) + 32)?,
        u32_at(image, section(dynsym) + 40)? as usize,
    );
    let str_offset = u64_at(image, section(strtab) + 24)?;
    let mut found = Vec::new();
    for sym in (sym_offset..sym_offset + sym_size).step_by(24) {
        let name_at = str_offset + u32_at(image, sym)? as usize;
        let name = image.get(name_at..)?;
        let name = &name[..name.iter().position(|&b| b == 0)?];
        let value = u64_at(image, sym + 8)?;
        let size = u64_at(image, sym + 16)?;
        if value >= linked_at {
            found.push((
                String::from_utf8_lossy(name).into_owned(),
                value - linked_at,
                size,
            ));
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom};

    /// This process's own vDSO, read through /proc.
    fn own_vdso() -> (Vec<u8>, u64) {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps
            .lines()
            .find(|l| l.ends_with("[vdso]"))
            .expect("a vDSO");
        let range = line.split_whitespace().next().unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut mem = std::fs::File::open("/proc/self/mem").unwrap();
        mem.seek(SeekFrom::Start(start)).unwrap();
        let mut image = vec![0u8; (end - start) as usize];
        mem.read_exact(&mut image).unwrap();
        (image, start)
    }

    #[test]
    fn the_clock_functions_of_this_kernels_vdso_are_found() {
        let (image, base) = own_vdso();
        let names: Vec<String> = symbols(&image)
            .expect("the vDSO parses")
            .into_iter()
            .map(|(name, _, _)| name)
            .collect();
        assert!(
            names.iter().any(|n| n == "__vdso_clock_gettime"),
            "{names:?}"
        );
        let patches = patches(&image, base);
        assert!(patches.len() >= 3, "{patches:?}");
        for (addr, code) in &patches {
            assert!(*addr >= base && *addr + code.len() as u64 <= base + image.len() as u64);
        }
        let clock = stub(Some(libc::SYS_clock_gettime as u32));
        assert_eq!(clock, [0xb8, 228, 0, 0, 0, 0x0f, 0x05, 0xc3]);
        assert!(patches.iter().any(|(_, code)| *code == clock));
    }

    #[test]
    fn anything_but_an_elf_image_gets_no_patches() {
        assert!(patches(b"not an elf", 0x1000).is_empty());
        assert!(patches(b"\x7fELF", 0x1000).is_empty());
        assert!(patches(&[], 0x1000).is_empty());
    }
}

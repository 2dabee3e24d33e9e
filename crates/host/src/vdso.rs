//! This kernel's vDSO as the recorder's own process has it: its exported
//! symbols, and what its `getrandom` asks callers to allocate. A tracee on
//! the same kernel has the same image.

use std::io::{Read, Seek, SeekFrom};

const SHT_DYNSYM: u32 = 11;
const PT_LOAD: u32 = 1;

fn u16_at(image: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(image.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(image: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(image.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(image: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u64::from_le_bytes(image.get(at..at + 8)?.try_into().ok()?)).ok()
}

/// (name, offset in the image, size) of each dynamic symbol of the ELF
/// `image`; `None` when it is not an ELF file this understands.
pub fn symbols(image: &[u8]) -> Option<Vec<(String, usize, usize)>> {
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

/// This process's vDSO image and where it is mapped.
pub fn own_image() -> Option<(Vec<u8>, u64)> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let range = maps
        .lines()
        .find(|l| l.ends_with("[vdso]"))?
        .split_whitespace()
        .next()?;
    let (start, end) = range.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let end = u64::from_str_radix(end, 16).ok()?;
    let mut mem = std::fs::File::open("/proc/self/mem").ok()?;
    mem.seek(SeekFrom::Start(start)).ok()?;
    let mut image = vec![0u8; usize::try_from(end - start).ok()?];
    mem.read_exact(&mut image).ok()?;
    Some((image, start))
}

/// What the vDSO's `getrandom` tells a caller to allocate for its state
/// (`struct vgetrandom_opaque_params`, Linux 6.11 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetrandomParams {
    pub size_of_opaque_state: u32,
    pub mmap_prot: u32,
    pub mmap_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct OpaqueParams {
    size_of_opaque_state: u32,
    mmap_prot: u32,
    mmap_flags: u32,
    reserved: [u32; 13],
}

type VgetrandomFn = unsafe extern "C" fn(*mut u8, usize, u32, *mut OpaqueParams, usize) -> isize;

/// Asks this process's own vDSO `getrandom` for its parameters; `None`
/// where the kernel has no vDSO `getrandom`.
pub fn getrandom_params() -> Option<GetrandomParams> {
    let (image, base) = own_image()?;
    let (_, offset, _) = symbols(&image)?
        .into_iter()
        .find(|(name, _, _)| name == "__vdso_getrandom")?;
    let addr = usize::try_from(base).ok()? + offset;
    // SAFETY: `addr` is `__vdso_getrandom` in this process's own vDSO,
    // found through its symbol table in the mapped image, and the vDSO
    // stays mapped for the life of the process. The kernel's uapi gives it
    // this signature; with a null buffer, zero length and flags and
    // `opaque_len == ~0` it only fills the params struct passed (64 bytes,
    // which `OpaqueParams` has) and returns 0.
    let (result, params) = unsafe {
        let call: VgetrandomFn = std::mem::transmute::<usize, VgetrandomFn>(addr);
        let mut params = OpaqueParams::default();
        let result = call(std::ptr::null_mut(), 0, 0, &mut params, usize::MAX);
        (result, params)
    };
    (result == 0 && params.size_of_opaque_state > 0).then_some(GetrandomParams {
        size_of_opaque_state: params.size_of_opaque_state,
        mmap_prot: params.mmap_prot,
        mmap_flags: params.mmap_flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernels_vdso_exports_its_clock() {
        let (image, _) = own_image().expect("a vDSO");
        let names: Vec<String> = symbols(&image)
            .expect("the vDSO parses")
            .into_iter()
            .map(|(name, _, _)| name)
            .collect();
        assert!(
            names.iter().any(|n| n == "__vdso_clock_gettime"),
            "{names:?}"
        );
    }

    #[test]
    fn getrandom_params_where_the_vdso_has_getrandom() {
        let (image, _) = own_image().expect("a vDSO");
        let has = symbols(&image)
            .expect("the vDSO parses")
            .iter()
            .any(|(name, _, _)| name == "__vdso_getrandom");
        let params = getrandom_params();
        assert_eq!(params.is_some(), has);
        if let Some(params) = params {
            assert!(params.size_of_opaque_state >= 64, "{params:?}");
            assert_eq!(
                params.mmap_prot,
                (libc::PROT_READ | libc::PROT_WRITE) as u32
            );
        }
    }

    #[test]
    fn anything_but_an_elf_image_has_no_symbols() {
        assert!(symbols(b"not an elf").is_none());
        assert!(symbols(b"\x7fELF").is_none());
        assert!(symbols(&[]).is_none());
    }
}

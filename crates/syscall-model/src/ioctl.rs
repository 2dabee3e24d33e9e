//! ioctl(fd, request, arg): modelled by request number (the fd's type is not
//! known here). An unknown request is an error, except when the kernel
//! answered ENOTTY (no driver on that fd knows the request) or EBADF: then
//! nothing can have been written.

use crate::outputs::{is_err, read_u32, read_u64, unsupported, Out};
use crate::row::Exit;
use crate::{is_error_result, ModelError};

/// What a request writes at `arg` on success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Nothing (sets state, or returns its result in the return value).
    Nothing,
    /// A fixed-size struct at `arg`.
    Fixed(u64),
    /// SIOCGIFCONF: struct ifconf and `ifc_len` bytes at `ifc_buf`.
    IfConf,
    /// FS_IOC_FIEMAP: struct fiemap header and the mapped extents.
    Fiemap,
    /// FIDEDUPERANGE: struct file_dedupe_range and its info array.
    Dedupe,
    /// PAGEMAP_SCAN: struct pm_scan_arg (walk_end written back) and the
    /// result's count of struct page_region at its `vec`.
    PagemapScan,
    /// Known but not modelled.
    Unsupported(&'static str),
    /// Answered ENOSYS by the recorder, for this reason, as the syscall
    /// that does the same is (docs/decisions/0019); a success is refused.
    Absent(&'static str),
}

/// `sizeof(struct termios)` in the kernel's layout.
const TERMIOS: u64 = 36;
/// `sizeof(struct ifreq)` on x86_64.
const IFREQ: u64 = 40;

fn effect(request: u32) -> Option<Effect> {
    use Effect::*;
    Some(match request {
        // ---- Terminals ----
        0x5401 => Fixed(TERMIOS),                            // TCGETS
        0x5402..=0x5404 => Nothing,                          // TCSETS, TCSETSW, TCSETSF
        0x5405 => Fixed(18),                                 // TCGETA (struct termio)
        0x5406..=0x5408 => Nothing,                          // TCSETA, TCSETAW, TCSETAF
        0x5409..=0x540E => Nothing, // TCSBRK TCXONC TCFLSH TIOCEXCL TIOCNXCL TIOCSCTTY
        0x540F => Fixed(4),         // TIOCGPGRP
        0x5410 => Nothing,          // TIOCSPGRP
        0x5411 => Fixed(4),         // TIOCOUTQ
        0x5412 => Nothing,          // TIOCSTI
        0x5413 => Fixed(8),         // TIOCGWINSZ
        0x5414 => Nothing,          // TIOCSWINSZ
        0x5415 => Fixed(4),         // TIOCMGET
        0x5416..=0x5418 => Nothing, // TIOCMBIS TIOCMBIC TIOCMSET
        0x5419 => Fixed(4),         // TIOCGSOFTCAR
        0x541A => Nothing,          // TIOCSSOFTCAR
        0x541B => Fixed(4),         // FIONREAD / TIOCINQ / SIOCINQ
        0x541C => Unsupported("TIOCLINUX"), // sub-command dependent
        0x541D => Nothing,          // TIOCCONS
        0x541E => Fixed(72),        // TIOCGSERIAL
        0x541F..=0x5423 => Nothing, // TIOCSSERIAL TIOCPKT FIONBIO TIOCNOTTY TIOCSETD
        0x5424 => Fixed(4),         // TIOCGETD
        0x5425 | 0x5427 | 0x5428 => Nothing, // TCSBRKP TIOCSBRK TIOCCBRK
        0x5429 => Fixed(4),         // TIOCGSID
        0x802C_542A => Fixed(44),   // TCGETS2
        0x402C_542B..=0x402C_542D => Nothing, // TCSETS2 TCSETSW2 TCSETSF2
        0x542E | 0x542F => Fixed(32), // TIOCGRS485, TIOCSRS485 (copies back)
        0x8004_5430 => Fixed(4),    // TIOCGPTN
        0x4004_5431 => Nothing,     // TIOCSPTLCK
        0x8004_5432 => Fixed(4),    // TIOCGDEV
        0x4004_5436 | 0x5437 => Nothing, // TIOCSIG TIOCVHANGUP
        0x8004_5438 | 0x8004_5439 | 0x8004_5440 => Fixed(4), // TIOCGPKT TIOCGPTLCK TIOCGEXCL
        0x5441 => Nothing,          // TIOCGPTPEER (returns an fd)
        0x8028_5442 | 0xC028_5443 => Fixed(40), // TIOCGISO7816, TIOCSISO7816
        0x5450..=0x5453 => Nothing, // FIONCLEX FIOCLEX FIOASYNC TIOCSERCONFIG
        0x5454 => Fixed(4),         // TIOCSERGWILD
        0x5455 => Nothing,          // TIOCSERSWILD
        0x5456 => Fixed(TERMIOS),   // TIOCGLCKTRMIOS
        0x5457 => Nothing,          // TIOCSLCKTRMIOS
        0x5459 => Fixed(4),         // TIOCSERGETLSR
        0x545C => Nothing,          // TIOCMIWAIT
        0x545D => Fixed(80),        // TIOCGICOUNT
        0x5460 => Fixed(8),         // FIOQSIZE
        // ---- Virtual consoles ----
        0x4B33 => Fixed(1), // KDGKBTYPE
        0x4B3B => Fixed(4), // KDGETMODE
        0x5601 => Fixed(8), // VT_GETMODE
        0x5603 => Fixed(6), // VT_GETSTATE
        // ---- Sockets ----
        0x8901 | 0x8902 => Nothing,   // FIOSETOWN SIOCSPGRP
        0x8903..=0x8905 => Fixed(4),  // FIOGETOWN SIOCGPGRP SIOCATMARK
        0x8906 | 0x8907 => Fixed(16), // SIOCGSTAMP SIOCGSTAMPNS
        0x8912 => IfConf,             // SIOCGIFCONF
        // SIOCGIFNAME SIOCGIFFLAGS SIOCGIFADDR SIOCGIFDSTADDR SIOCGIFBRDADDR
        // SIOCGIFNETMASK SIOCGIFMETRIC SIOCGIFMTU SIOCGIFHWADDR SIOCGIFINDEX
        // SIOCGIFPFLAGS SIOCGIFTXQLEN SIOCGIFMAP: struct ifreq.
        0x8910 | 0x8913 | 0x8915 | 0x8917 | 0x8919 | 0x891B | 0x891D | 0x8921 | 0x8927 | 0x8933
        | 0x8935 | 0x8942 | 0x8970 => Fixed(IFREQ),
        // SIOCSIFFLAGS SIOCSIFADDR SIOCSIFDSTADDR SIOCSIFBRDADDR SIOCSIFNETMASK
        // SIOCSIFMETRIC SIOCSIFMTU SIOCSIFNAME SIOCSIFHWADDR SIOCSIFPFLAGS
        // SIOCSIFTXQLEN SIOCSIFMAP.
        0x8914 | 0x8916 | 0x8918 | 0x891A | 0x891C | 0x891E | 0x8922 | 0x8923 | 0x8924 | 0x8936
        | 0x8943 | 0x8971 => Nothing,
        0x894B => Fixed(4), // SIOCOUTQNSD
        // TUN/TAP (/dev/net/tun): TUNSETIFF and TUNGETIFF copy the struct
        // ifreq back (the interface's name); the other setters only read.
        0x4004_54CA | 0x8004_54D2 => Fixed(IFREQ), // TUNSETIFF TUNGETIFF
        0x8004_54CF | 0x8004_54D3 | 0x8004_54D7 => Fixed(4), // TUNGETFEATURES TUNGETSNDBUF TUNGETVNETHDRSZ
        // TUNSETNOCSUM TUNSETDEBUG TUNSETPERSIST TUNSETOWNER TUNSETLINK
        // TUNSETGROUP TUNSETOFFLOAD TUNSETTXFILTER TUNSETSNDBUF
        // TUNSETVNETHDRSZ TUNSETQUEUE TUNSETIFINDEX.
        0x4004_54C8 | 0x4004_54C9 | 0x4004_54CB | 0x4004_54CC | 0x4004_54CD | 0x4004_54CE
        | 0x4004_54D0 | 0x4004_54D1 | 0x4004_54D4 | 0x4004_54D8 | 0x4004_54D9 | 0x4004_54DA => {
            Nothing
        }
        0x8946 => Unsupported("SIOCETHTOOL"), // variable-size command structs
        // ---- Block devices ----
        0x125E => Fixed(4),          // BLKROGET
        0x1260 => Fixed(8),          // BLKGETSIZE
        0x1261 => Nothing,           // BLKFLSBUF
        0x1263 => Fixed(8),          // BLKRAGET
        0x1268 => Fixed(4),          // BLKSSZGET
        0x8008_1270 => Fixed(8),     // BLKBSZGET
        0x8008_1272 => Fixed(8),     // BLKGETSIZE64
        0x1278..=0x127C => Fixed(4), // BLKIOMIN BLKIOOPT BLKALIGNOFF BLKPBSZGET BLKDISCARDZEROES
        0x127E => Fixed(2),          // BLKROTATIONAL
        // ---- File systems ----
        0x1 | 0x2 => Fixed(4), // FIBMAP (in/out block number), FIGETBSZ
        0x8008_6601 | 0x8004_6601 => Fixed(4), // FS_IOC_GETFLAGS, FS_IOC32_GETFLAGS (int)
        0x4008_6602 | 0x4004_6602 => Nothing, // FS_IOC_SETFLAGS, FS_IOC32_SETFLAGS
        0x8008_7601 | 0x8004_7601 => Fixed(4), // FS_IOC_GETVERSION, FS_IOC32_GETVERSION
        0x4008_7602 | 0x4004_7602 => Nothing, // FS_IOC_SETVERSION, FS_IOC32_SETVERSION
        0x801C_581F => Fixed(28), // FS_IOC_FSGETXATTR
        0x401C_5820 => Nothing, // FS_IOC_FSSETXATTR
        0xC018_5879 => Fixed(24), // FITRIM (range copied back)
        0x4004_9409 | 0x4020_940D => Nothing, // FICLONE, FICLONERANGE
        0xC018_9436 => Dedupe, // FIDEDUPERANGE
        0xC020_660B => Fiemap, // FS_IOC_FIEMAP
        0x8100_9431 => Fixed(256), // FS_IOC_GETFSLABEL
        0x4100_9432 => Nothing, // FS_IOC_SETFSLABEL
        0x8011_1500 => Fixed(17), // FS_IOC_GETFSUUID
        0x8081_1501 => Fixed(129), // FS_IOC_GETFSSYSFSPATH
        // ---- Misc ----
        0x4008_5400 => Nothing, // TFD_IOC_SET_TICKS (timerfd; reads a u64)
        0xAA00 => Absent("a userfaultfd's faults are served outside any syscall"), // USERFAULTFD_IOC_NEW
        // seccomp user notification listener: RECV fills struct
        // seccomp_notif; SEND, ID_VALID (both encodings), ADDFD (its fd
        // lands in the other process) and SET_FLAGS only read.
        0xC050_2100 => Fixed(80),
        0xC018_2101 | 0x4008_2102 | 0x8008_2102 | 0x4018_2103 | 0x4008_2104 => Nothing,
        0x8004_5200 => Fixed(4),    // RNDGETENTCNT
        0xB701..=0xB703 => Nothing, // NS_GET_USERNS NS_GET_PARENT NS_GET_NSTYPE
        0xB704 => Fixed(4),         // NS_GET_OWNER_UID (an _IO request that writes a uid_t)
        0x8008_B705 => Fixed(8),    // NS_GET_MNTNS_ID
        // NS_GET_{PID,TGID}_{FROM,IN}_PIDNS take a pid as the argument and
        // answer in the return value.
        0x8004_B706..=0x8004_B709 => Nothing,
        0x8010_B70A..=0x8010_B70C => Fixed(16), // NS_MNT_GET_INFO NS_MNT_GET_NEXT NS_MNT_GET_PREV
        // pidfd: PIDFD_GET_*_NAMESPACE return fds; PIDFD_GET_INFO fills
        // struct pidfd_info (its size is in the request).
        0xFF01..=0xFF0A => Nothing,
        0xC048_FF0B => Fixed(72),
        // ---- Loop devices ----
        // LOOP_SET_FD CLR_FD SET_STATUS; LOOP_SET_STATUS64 CHANGE_FD
        // SET_CAPACITY SET_DIRECT_IO SET_BLOCK_SIZE CONFIGURE; the
        // control device's LOOP_CTL_ADD REMOVE GET_FREE.
        0x4C00..=0x4C02 | 0x4C04 | 0x4C06..=0x4C0A | 0x4C80..=0x4C82 => Nothing,
        0x4C03 => Fixed(168),       // LOOP_GET_STATUS (struct loop_info)
        0x4C05 => Fixed(232),       // LOOP_GET_STATUS64 (struct loop_info64)
        0xC060_6610 => PagemapScan, // PAGEMAP_SCAN
        _ => return None,
    })
}

pub(crate) fn outputs(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    // The kernel takes `unsigned int cmd`.
    let request = a[1] as u32;
    let arg = a[2];
    let Some(effect) = effect(request) else {
        if is_err(ret, libc::ENOTTY) || is_err(ret, libc::EBADF) {
            return Ok(());
        }
        return Err(ModelError::UnknownIoctl {
            fd: a[0] as i32 as i64,
            request: request as u64,
        });
    };
    if let Effect::Absent(reason) = effect {
        if is_error_result(ret) {
            return Ok(());
        }
        return Err(unsupported(
            "ioctl",
            format!("{reason} (request {request:#x})"),
        ));
    }
    let nobody_knew = is_err(ret, libc::ENOTTY) || is_err(ret, libc::EBADF);
    if let Effect::Unsupported(what) = effect {
        if !nobody_knew {
            return Err(unsupported(
                "ioctl",
                format!("{what} (request {request:#x})"),
            ));
        }
    }
    if is_error_result(ret) {
        return Ok(());
    }
    match effect {
        Effect::Nothing => {}
        Effect::Fixed(len) => out.add(arg, len),
        Effect::IfConf => {
            // struct ifconf { int ifc_len; (pad) char *ifc_buf; }
            if arg != 0 {
                out.add(arg, 16);
                let len = read_u32(mem, arg)? as i32;
                let buf = read_u64(mem, arg.wrapping_add(8))?;
                if len > 0 {
                    out.add(buf, len as u64);
                }
            }
        }
        Effect::Fiemap => {
            // struct fiemap: 32-byte header (fm_mapped_extents at 20,
            // fm_extent_count at 24) then 56-byte extents.
            if arg != 0 {
                out.add(arg, 32);
                let mapped = read_u32(mem, arg + 20)? as u64;
                let room = read_u32(mem, arg.wrapping_add(24))? as u64;
                out.add(arg + 32, mapped.min(room) * 56);
            }
        }
        Effect::Dedupe => {
            // struct file_dedupe_range: 24-byte header (dest_count u16 at 16)
            // then dest_count 32-byte file_dedupe_range_info.
            if arg != 0 {
                let dest = (read_u32(mem, arg + 16)? & 0xffff) as u64;
                out.add(arg, 24 + dest * 32);
            }
        }
        Effect::PagemapScan => {
            // struct pm_scan_arg (96 bytes): vec at 40; page_region is
            // { start, end, categories }.
            out.add(arg, 96);
            if ret > 0 {
                let regions = read_u64(mem, arg.wrapping_add(40))?;
                out.add(regions, ret as u64 * 24);
            }
        }
        Effect::Unsupported(_) | Effect::Absent(_) => {}
    }
    Ok(())
}

/// True if the request is known to the ioctl model.
pub(crate) fn is_known_request(request: u64) -> bool {
    effect(request as u32).is_some()
}

/// ioctl requests that may block for an unbounded time (waiting for output
/// to drain, a break, or modem lines).
/// Why the recorder answers ioctl `request` ENOSYS without running it,
/// when it does.
pub(crate) fn absent_because(request: u64) -> Option<&'static str> {
    match effect(request as u32) {
        Some(Effect::Absent(reason)) => Some(reason),
        _ => None,
    }
}

pub(crate) fn request_may_block(request: u64) -> bool {
    matches!(
        request as u32,
        0x5403
            | 0x5404
            | 0x5407
            | 0x5408
            | 0x5409
            | 0x5425
            | 0x545C
            | 0x402C_542C
            | 0x402C_542D
            | 0xC050_2100 // SECCOMP_IOCTL_NOTIF_RECV waits for a notification
    )
}

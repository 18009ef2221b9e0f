//! The `syscall` instruction itself, for the two calls made once per message (`recvfrom`,
//! `sendto`): no libc wrapper in between.
//!
//! Why: libc's `syscall(2)` moves its seven arguments into place through the stack and returns
//! through `errno`, about 11 user-space instructions a call plus the `errno` read on failure
//! (callgrind); here the arguments go straight into the registers the kernel reads, and the
//! kernel's `-errno` comes back in the result. On an architecture without the inline form,
//! libc's `syscall` is used, with the same result.
use std::io;

/// Makes syscall `nr` with six arguments; a result in `-4095..=-1` is `-errno`.
///
/// # Safety
/// The arguments must be valid for syscall `nr`, as for `libc::syscall`: every pointer among
/// them must point to memory the kernel may read (or write, for an output) for the call.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn syscall6(
    nr: libc::c_long,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> io::Result<usize> {
    let ret: isize;
    // SAFETY: the x86-64 Linux syscall convention: the number in rax, the arguments in rdi,
    // rsi, rdx, r10, r8, r9, the result in rax; the kernel overwrites rcx and r11 and nothing
    // else, and it does not touch the stack. The caller vouches for the arguments (above).
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            in("r8") a5,
            in("r9") a6,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if (-4095..0).contains(&ret) {
        Err(io::Error::from_raw_os_error(-ret as i32))
    } else {
        Ok(ret as usize)
    }
}

/// Makes syscall `nr` with six arguments, through libc's `syscall` (see the x86-64 version).
///
/// # Safety
/// As for `libc::syscall`: the arguments must be valid for syscall `nr`.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) unsafe fn syscall6(
    nr: libc::c_long,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
) -> io::Result<usize> {
    // SAFETY: the caller vouches for the arguments (above).
    let n = unsafe { libc::syscall(nr, a1, a2, a3, a4, a5, a6) };
    crate::cvt::cvt(n as isize).map(|n| n as usize)
}

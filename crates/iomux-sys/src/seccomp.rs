//! Running a child process as a locked-down container would: with `io_uring_setup(2)` refused
//! by a seccomp filter (`EPERM`, as Docker's default profile does). The tests use it to check
//! that iomux says clearly what it tried and what works instead, on a machine whose kernel
//! does have io_uring.
use std::process::Command;

// Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
// Offsets in `struct seccomp_data`: the syscall number, then the architecture.
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

const fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter: `io_uring_setup` fails with `EPERM`; every other syscall is allowed.
const FORBID_IO_URING: [libc::sock_filter; 6] = [
    stmt(BPF_LD_W_ABS, OFFSET_ARCH),
    jump(BPF_JEQ_K, AUDIT_ARCH_NATIVE, 0, 3), // another ABI: allow
    stmt(BPF_LD_W_ABS, OFFSET_NR),
    jump(BPF_JEQ_K, libc::SYS_io_uring_setup as u32, 0, 1),
    stmt(BPF_RET_K, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
    stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW),
];

/// Makes `command`'s process start under a seccomp filter that refuses `io_uring_setup`
/// with `EPERM` (and sets `no_new_privs`, which an unprivileged filter requires).
pub fn forbid_io_uring(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let filter = FORBID_IO_URING;
    let install = move || {
        let program = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_ptr().cast_mut(),
        };
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `program` points to `filter`, a valid array of `len` instructions alive for
        // the call (the kernel copies it); flags 0.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &program as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the closure runs in the forked child before exec; it only makes two syscalls
    // on data it owns (no allocation, no locks), which is async-signal-safe.
    unsafe {
        command.pre_exec(install);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_child_under_the_filter_cannot_set_up_io_uring_but_runs() {
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", "exit 7"]);
        super::forbid_io_uring(&mut cmd);
        assert_eq!(cmd.status().unwrap().code(), Some(7));
    }
}

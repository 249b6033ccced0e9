//! Fork detection: a process-wide counter that the child side of every
//! `fork()` increments, through `pthread_atfork`.
//!
//! This catches forks made from C as well as `os.fork()` (servers such as
//! uwsgi fork without running Python's at-fork hooks), and costs one atomic
//! load per record where asking the kernel for the pid costs a syscall.
#![allow(unsafe_code)]

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many forks lie between the first process and this one.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

/// Runs in the child right after `fork()`, while it has a single thread:
/// an atomic increment is async-signal-safe, as this must be.
extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Installs the fork hook (once per process image; children inherit it).
/// Returns false if the C library refused it.
pub(crate) fn install() -> bool {
    let mut ok = true;
    REGISTER.call_once(|| {
        // SAFETY: `in_child` is a plain `extern "C"` function that only does
        // an atomic increment, which is allowed in a child after fork; the
        // prepare and parent hooks are absent.
        ok = unsafe { libc::pthread_atfork(None, None, Some(in_child)) } == 0;
    });
    ok
}

/// The current fork generation: it differs from a value read earlier if
/// and only if this process is a (grand)child of the one that read it.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

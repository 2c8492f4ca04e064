//! Asks the C allocator to give memory back. A reading of a big table is
//! a buffer of tens of megabytes that lives for a moment; glibc raises its
//! mmap threshold after the first one is freed, so later ones come from
//! the heap and stay resident after they are freed, and every thread that
//! allocates gets an arena of its own. Measured on 100,000 sockets: 135
//! MiB resident by default, 96 MiB with large buffers always mapped (and
//! unmapped when freed) and one arena.

/// Large buffers mapped and returned when freed; one arena (the threads
/// that allocate seldom do so at the same time).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // the one foreign call: no safe wrapper exists
pub fn return_large_buffers() {
    /// One mebibyte: the per-socket objects stay far below it.
    const THRESHOLD: libc::c_int = 1 << 20;
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_large_buffers() {}

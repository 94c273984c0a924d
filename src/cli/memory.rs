//! An allocation that cannot be satisfied ends the program with a clear
//! message and exit status 1, not with Rust's default abort (status 134):
//! the global allocator is the system's, with a check for failure. Outputs
//! are written atomically, so a run ended this way leaves no partial file.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;

/// The system allocator, reporting a failed allocation.
pub struct ReportingAllocator;

// SAFETY: every method forwards to `System` with the same arguments and
// returns its result unchanged; only a null result (failure) is acted on,
// by ending the process.
unsafe impl GlobalAlloc for ReportingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            out_of_memory(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            out_of_memory(new_size);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Writes the message without allocating and exits with status 1.
fn out_of_memory(size: usize) -> ! {
    let mut digits = [0u8; 20];
    let mut k = digits.len();
    let mut n = size;
    loop {
        k -= 1;
        digits[k] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"error: out of memory: an allocation of ");
    let _ = err.write_all(&digits[k..]);
    let _ = err.write_all(
        b" bytes failed; the job is too large for the memory available (try a coarser grid, or fewer \
          virtual patients or subjects); no output file was written\n",
    );
    let _ = err.flush();
    std::process::exit(1)
}

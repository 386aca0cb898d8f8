//! The component's heap and panic handler: it has no `std`.
//!
//! The only allocations are the arguments the canonical ABI copies in (a
//! host name for `resolve-addresses`, datagrams for `send`), each freed
//! when the call returns. So a bump allocator suffices: it hands out memory
//! from pages grown on demand, and takes back the most recent block when
//! that one is freed (which covers the call-then-free pattern). Memory it
//! cannot take back stays allocated: bounded by the run's memory limit.

#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;

/// Bytes per wasm page.
const PAGE: usize = 65536;

/// A bump allocator over pages grown with `memory.grow`.
struct Bump {
    /// Next free address (0 until the first allocation).
    next: Cell<usize>,
    /// End of the grown region.
    end: Cell<usize>,
}

// The component is single-threaded (wasm32 without threads).
unsafe impl Sync for Bump {}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let align = layout.align().max(1);
        let start = (self.next.get() + align - 1) & !(align - 1);
        let Some(stop) = start.checked_add(layout.size()) else {
            return core::ptr::null_mut();
        };
        if stop > self.end.get() || self.end.get() == 0 {
            let pages = (layout.size() + align).div_ceil(PAGE).max(1);
            let old = core::arch::wasm32::memory_grow(0, pages);
            if old == usize::MAX {
                return core::ptr::null_mut();
            }
            let base = old * PAGE;
            self.end.set(base + pages * PAGE);
            let start = (base + align - 1) & !(align - 1);
            self.next.set(start + layout.size());
            return start as *mut u8;
        }
        self.next.set(stop);
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }
}

#[global_allocator]
static HEAP: Bump = Bump {
    next: Cell::new(0),
    end: Cell::new(0),
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// The canonical ABI's allocator entry point: where the host copies the
/// arguments of an export call (wit-bindgen's own needs `std`).
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(
    old: *mut u8,
    old_size: usize,
    align: usize,
    new_size: usize,
) -> *mut u8 {
    let Ok(layout) = Layout::from_size_align(new_size.max(1), align.max(1)) else {
        core::arch::wasm32::unreachable()
    };
    // SAFETY: `old` came from this allocator with `old_size` and `align`.
    let new = unsafe { HEAP.alloc(layout) };
    if new.is_null() {
        core::arch::wasm32::unreachable()
    }
    if !old.is_null() {
        // SAFETY: both blocks are live and at least `old_size.min(new_size)` long.
        unsafe { core::ptr::copy_nonoverlapping(old, new, old_size.min(new_size)) };
    }
    new
}

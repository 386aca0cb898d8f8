//! Clocks and randomness for the guest, made deterministic.
//!
//! The same wasm, task, limits and seed must give bit-identical results, so
//! nothing the guest can observe comes from the host's real clocks or
//! entropy:
//!
//! - the wall clock is fixed at [`FIXED_WALL_CLOCK_SECS`];
//! - the monotonic clock is virtual: it starts at 0 and advances by
//!   [`MONOTONIC_TICK_NS`] on every read, so loops that wait for time to pass
//!   still end. Sleeping (a `subscribe-*` pollable) never blocks the host
//!   thread: the pollable is ready at once and moves the virtual clock to
//!   its deadline. This matters for more than determinism: wasmtime's own
//!   clock would sleep inside a host call, where neither fuel nor epochs
//!   can interrupt it;
//! - both `wasi:random` generators are [`w2s_train::rng::Rng`] streams
//!   derived from the run seed.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use w2s_train::rng::Rng;
use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// The guest's wall clock: 2024-01-01T00:00:00Z, always.
pub const FIXED_WALL_CLOCK_SECS: u64 = 1_704_067_200;
/// How far the virtual monotonic clock advances per read, in nanoseconds.
pub const MONOTONIC_TICK_NS: u64 = 1_000;

/// The fixed wall clock.
pub(crate) struct FixedWallClock;

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::from_secs(FIXED_WALL_CLOCK_SECS)
    }
}

/// The virtual monotonic clock. Clones share the same time.
#[derive(Debug, Clone, Default)]
pub(crate) struct VirtualClock {
    now_ns: Arc<AtomicU64>,
}

impl VirtualClock {
    /// Reads the clock and advances it by one tick.
    fn read(&self) -> u64 {
        // One store, one thread: the atomic is only there to share the value
        // with pollables living in the resource table.
        self.now_ns.fetch_add(MONOTONIC_TICK_NS, Ordering::Relaxed)
    }

    fn advance_to(&self, ns: u64) {
        self.now_ns.fetch_max(ns, Ordering::Relaxed);
    }
}

impl HostMonotonicClock for VirtualClock {
    fn resolution(&self) -> u64 {
        MONOTONIC_TICK_NS
    }

    fn now(&self) -> u64 {
        self.read()
    }
}

/// A sleep on the virtual clock: ready at once, it moves the clock to its
/// deadline when polled.
struct VirtualSleep {
    clock: VirtualClock,
    until: u64,
}

#[wasmtime_wasi::async_trait]
impl Pollable for VirtualSleep {
    async fn ready(&mut self) {
        self.clock.advance_to(self.until);
    }
}

/// What `wasi:clocks/monotonic-clock` works on: the clock and the table
/// that holds pollables.
pub(crate) struct ClockView<'a> {
    pub(crate) clock: &'a VirtualClock,
    pub(crate) table: &'a mut ResourceTable,
}

/// [`HasData`] marker for [`ClockView`].
pub(crate) struct VirtualClocks;

impl HasData for VirtualClocks {
    type Data<'a> = ClockView<'a>;
}

impl ClockView<'_> {
    fn sleep_until(&mut self, until: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let sleep = self.table.push(VirtualSleep {
            clock: self.clock.clone(),
            until,
        })?;
        subscribe(self.table, sleep)
    }
}

impl monotonic_clock::Host for ClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(self.clock.read())
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(MONOTONIC_TICK_NS)
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.sleep_until(when)
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let until = self.clock.read().saturating_add(duration);
        self.sleep_until(until)
    }
}

/// A `wasi:random` generator: a [`Rng`] stream of the run seed.
pub(crate) struct SeededRandom(Rng);

impl SeededRandom {
    /// The generator for `stream` of `seed`.
    pub(crate) fn new(seed: u64, stream: &str) -> Self {
        Self(Rng::for_stream(seed, stream))
    }
}

impl rand_core::TryRng for SeededRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.0.next_u64() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let word = self.0.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

/// The `wasi:random/insecure-seed` value for `seed`.
pub(crate) fn insecure_seed(seed: u64) -> u128 {
    let mut rng = Rng::for_stream(seed, "wasi-insecure-seed");
    (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng as _;

    #[test]
    fn virtual_clock_advances_per_read_and_on_sleep() {
        let clock = VirtualClock::default();
        assert_eq!(clock.now(), 0);
        assert_eq!(clock.now(), MONOTONIC_TICK_NS);
        clock.advance_to(10);
        assert_eq!(clock.now(), 2 * MONOTONIC_TICK_NS);
        clock.advance_to(1_000_000_000);
        assert_eq!(clock.now(), 1_000_000_000);
    }

    #[test]
    fn seeded_random_is_reproducible() {
        let mut a = SeededRandom::new(7, "x");
        let mut b = SeededRandom::new(7, "x");
        let (mut ba, mut bb) = ([0u8; 13], [0u8; 13]);
        a.fill_bytes(&mut ba);
        b.fill_bytes(&mut bb);
        assert_eq!(ba, bb);
        assert_ne!(ba, [0u8; 13]);
        assert_ne!(
            SeededRandom::new(8, "x").next_u64(),
            SeededRandom::new(7, "x").next_u64()
        );
        assert_eq!(insecure_seed(3), insecure_seed(3));
    }
}

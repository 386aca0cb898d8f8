//! A small deterministic random number generator for guests.
//!
//! This is the same xoshiro256** generator, seeded through splitmix64, as the
//! host's `w2s-train` crate uses for its reference recipes: `Rng::new(seed)`
//! gives the same stream in a guest as in the host, so a guest can reproduce
//! a native recipe's shuffles exactly. Its output is fixed by this file
//! alone (no `rand`, whose streams may change between versions).

/// A xoshiro256** generator. Deterministic for a given seed, on every
/// platform.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes a seed with a stream label into an independent seed, so that one
/// run seed can feed many uncorrelated generators (weights, shuffles, ...).
pub fn derive_seed(seed: u64, stream: &str) -> u64 {
    let mut state = seed;
    let mut out = splitmix64(&mut state);
    for byte in stream.bytes() {
        state ^= u64::from(byte);
        out ^= splitmix64(&mut state);
    }
    out
}

impl Rng {
    /// A generator seeded from `seed` (usually [`crate::task::seed`]).
    pub fn new(seed: u64) -> Self {
        let mut state = seed;
        let s = [
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
        ];
        Self { s }
    }

    /// A generator for a named stream of `seed` (see [`derive_seed`]).
    pub fn for_stream(seed: u64, stream: &str) -> Self {
        Self::new(derive_seed(seed, stream))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`, with 53 bits of precision.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `[0, n)`. Panics when `n` is zero.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        // Lemire's multiply-shift; the bias is below 2^-64 * n, irrelevant here.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A standard normal sample (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Shuffles `items` in place (Fisher-Yates, from the back).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// `0..n` in a random order: a fresh shuffle of `n` pool indices.
    pub fn permutation(&mut self, n: usize) -> Vec<u32> {
        let n = u32::try_from(n).expect("permutation of more than u32::MAX items");
        let mut order: Vec<u32> = (0..n).collect();
        self.shuffle(&mut order);
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_reference_value() {
        // Reference: xoshiro256** with state [1, 2, 3, 4] yields 11520 first
        // (Blackman and Vigna's reference implementation).
        let mut r = Rng { s: [1, 2, 3, 4] };
        assert_eq!(r.next_u64(), 11520);
        assert_eq!(r.next_u64(), 0);
        assert_eq!(r.next_u64(), 1509978240);
    }

    #[test]
    fn same_stream_as_the_host_train_crate() {
        // Expected values printed by `w2s-train`'s `train/src/rng.rs`
        // (compiled on its own) for the same calls: the guest's shuffles
        // must equal the host's reference recipe.
        let mut r = Rng::new(42);
        assert_eq!(
            [r.next_u64(), r.next_u64(), r.next_u64()],
            [
                1546998764402558742,
                6990951692964543102,
                12544586762248559009
            ]
        );
        let mut r = Rng::new(42);
        assert_eq!(r.permutation(10), [9, 1, 4, 2, 8, 7, 6, 5, 3, 0]);
        assert_eq!(r.permutation(10), [0, 7, 8, 4, 3, 1, 9, 2, 6, 5]);
        let mut r = Rng::new(7);
        assert_eq!(r.uniform(), 0.7005764821796896);
        assert_eq!(r.below(1000), 278);
        assert_eq!(derive_seed(1, "shuffle"), 5447329990252042105);
    }

    /// The stream `guest-sdk/python/tests/rng_stream.py` prints for `seeds`,
    /// in its format (floats as IEEE bits).
    fn stream_text(seeds: &[u64]) -> String {
        const STREAMS: [&str; 5] = ["", "shuffle", "weights", "fold-3", "\u{fc}n\u{ef}code"];
        const BELOW: [u64; 7] = [1, 2, 3, 10, 1000, (1 << 32) + 1, u64::MAX];
        let join = |v: Vec<String>| v.join(" ");
        let mut out = String::new();
        for &seed in seeds {
            let mut r = Rng::new(seed);
            out += &format!("seed {seed}\n");
            out += &format!(
                "u64 {}\n",
                join((0..5).map(|_| r.next_u64().to_string()).collect())
            );
            let uniform = (0..3)
                .map(|_| format!("{:016x}", r.uniform().to_bits()))
                .collect();
            out += &format!("uniform {}\n", join(uniform));
            out += &format!(
                "below {}\n",
                join(BELOW.iter().map(|&n| r.below(n).to_string()).collect())
            );
            let normal = (0..3)
                .map(|_| format!("{:016x}", r.normal().to_bits()))
                .collect();
            out += &format!("normal {}\n", join(normal));
            for n in [17, 1] {
                let perm = r.permutation(n).iter().map(u32::to_string).collect();
                out += &format!("perm {}\n", join(perm));
            }
            for stream in STREAMS {
                // Python's repr of these strings: single quotes, no escapes.
                out += &format!("derive '{stream}' {}\n", derive_seed(seed, stream));
            }
            let perm = Rng::for_stream(seed, "shuffle").permutation(9);
            out += &format!(
                "stream {}\n",
                join(perm.iter().map(u32::to_string).collect())
            );
        }
        out
    }

    #[test]
    fn python_sdk_draws_the_same_stream() {
        // The Python SDK's Rng (guest-sdk/python/w2s_guest_sdk/rng.py) under
        // CPython against this one: every draw equal, floats bit for bit.
        // (Box-Muller's log and cos come from the platform's libm on both
        // sides here; in the sandbox both use wasi-libc's.)
        let seeds = [0, 1, 7, 42, 77, u64::MAX, 0x9E37_79B9_7F4A_7C15];
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/tests/rng_stream.py");
        let out = std::process::Command::new("python3")
            .arg(script)
            .args(seeds.iter().map(u64::to_string))
            .output()
            .expect("python3 runs (the Python SDK's tests need it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let python = String::from_utf8(out.stdout).unwrap();
        let rust = stream_text(&seeds);
        for (i, (p, r)) in python.lines().zip(rust.lines()).enumerate() {
            assert_eq!(p, r, "line {i} differs");
        }
        assert_eq!(python.lines().count(), rust.lines().count());
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = Rng::new(3).permutation(1000);
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
    }
}

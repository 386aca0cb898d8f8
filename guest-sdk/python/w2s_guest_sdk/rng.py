"""A small deterministic random number generator for guests.

The same xoshiro256** generator, seeded through splitmix64, as the Rust
SDK's ``Rng`` (``guest-sdk/src/rng.rs``) and the host's ``w2s-train``
crate: ``Rng(seed)`` gives the same stream here as there, bit for bit, so a
Python strategy's shuffles equal the Rust one's step for step. Python's
integers are unbounded, so every 64-bit operation is masked explicitly.
Pure Python: no host calls (it runs natively too, which the tests use).
"""

import math

_MASK = (1 << 64) - 1
_TAU = 2.0 * math.pi


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & _MASK


def _splitmix64(state: int) -> "tuple[int, int]":
    """One splitmix64 step: ``(new_state, output)``."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return state, z ^ (z >> 31)


def derive_seed(seed: int, stream: str) -> int:
    """Mixes a seed with a stream label into an independent seed (the Rust
    SDK's ``derive_seed``), so one run seed feeds many uncorrelated
    generators."""
    state = seed & _MASK
    state, out = _splitmix64(state)
    for byte in stream.encode("utf-8"):
        state ^= byte
        state, mixed = _splitmix64(state)
        out ^= mixed
    return out


class Rng:
    """A xoshiro256** generator. Deterministic for a given seed."""

    __slots__ = ("_s",)

    def __init__(self, seed: int) -> None:
        """A generator seeded from ``seed`` (usually ``task.seed()``)."""
        state = seed & _MASK
        s = []
        for _ in range(4):
            state, out = _splitmix64(state)
            s.append(out)
        self._s = s

    @classmethod
    def for_stream(cls, seed: int, stream: str) -> "Rng":
        """A generator for a named stream of ``seed`` (see ``derive_seed``)."""
        return cls(derive_seed(seed, stream))

    def next_u64(self) -> int:
        """The next 64 random bits, as an int in ``[0, 2**64)``."""
        s = self._s
        result = (_rotl((s[1] * 5) & _MASK, 7) * 9) & _MASK
        t = (s[1] << 17) & _MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def uniform(self) -> float:
        """Uniform in ``[0, 1)``, with 53 bits of precision."""
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def below(self, n: int) -> int:
        """Uniform integer in ``[0, n)`` (Lemire's multiply-shift, as the
        Rust one). Raises ``ValueError`` when ``n`` is not positive."""
        if n <= 0:
            raise ValueError("Rng.below(n) needs n > 0")
        return (self.next_u64() * n) >> 64

    def normal(self) -> float:
        """A standard normal sample (Box-Muller, as the Rust one). Bit for bit
        equal to Rust's where both use the same libm (in the sandbox both
        use wasi-libc's)."""
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TAU * u2)

    def shuffle(self, items: list) -> None:
        """Shuffles ``items`` in place (Fisher-Yates, from the back). The
        generator is inlined (``next_u64`` and ``below`` on local state, the
        same stream): shuffles are most of a simple strategy's own work."""
        s0, s1, s2, s3 = self._s
        m = _MASK
        for i in range(len(items) - 1, 0, -1):
            x = (s1 * 5) & m
            result = ((((x << 7) | (x >> 57)) & m) * 9) & m
            t = (s1 << 17) & m
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = ((s3 << 45) | (s3 >> 19)) & m
            j = (result * (i + 1)) >> 64
            items[i], items[j] = items[j], items[i]
        self._s = [s0, s1, s2, s3]

    def permutation(self, n: int) -> "list[int]":
        """``0..n`` in a random order: a fresh shuffle of ``n`` pool indices."""
        order = list(range(n))
        self.shuffle(order)
        return order

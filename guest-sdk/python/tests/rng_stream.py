"""Prints the Python SDK's Rng stream for the seeds given as arguments, in
the format of the Rust SDK's test ``python_sdk_draws_the_same_stream``
(``guest-sdk/src/rng.rs``), which runs this under CPython and compares the
two texts line for line. Floats are printed as their IEEE bits."""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from w2s_guest_sdk.rng import Rng, derive_seed  # noqa: E402

STREAMS = ["", "shuffle", "weights", "fold-3", "\u00fcn\u00efcode"]
BELOW = [1, 2, 3, 10, 1000, (1 << 32) + 1, (1 << 64) - 1]


def bits(x: float) -> str:
    return format(struct.unpack("<Q", struct.pack("<d", x))[0], "016x")


def main() -> None:
    for arg in sys.argv[1:]:
        seed = int(arg)
        r = Rng(seed)
        print("seed", seed)
        print("u64", *[r.next_u64() for _ in range(5)])
        print("uniform", *[bits(r.uniform()) for _ in range(3)])
        print("below", *[r.below(n) for n in BELOW])
        print("normal", *[bits(r.normal()) for _ in range(3)])
        print("perm", *r.permutation(17))
        print("perm", *r.permutation(1))
        for stream in STREAMS:
            print("derive", repr(stream), derive_seed(seed, stream))
        s = Rng.for_stream(seed, "shuffle")
        print("stream", *s.permutation(9))


main()

"""Unit tests of the Python SDK's pure modules, natively under CPython
(``python3 -m unittest discover -s guest-sdk/python/tests``). Expected
values are the Rust SDK's for the same inputs: its unit tests in
``guest-sdk/src/{config,folds,batch,labels,matrix,arch}.rs`` (messages and
splits), and IEEE single precision for ``f32math``."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from w2s_guest_sdk import f32math  # noqa: E402
from w2s_guest_sdk.arch import Arch, ArchFamily, ArchLimit, largest_allowed  # noqa: E402
from w2s_guest_sdk.config import Config, ConfigError, f32, string, u32, usize  # noqa: E402
from w2s_guest_sdk.indices import batches, k_fold, subset  # noqa: E402
from w2s_guest_sdk.matrix import Matrix, argmax, one_hot  # noqa: E402

LINEAR = ArchLimit(ArchFamily.LINEAR, 0)


class ConfigTest(unittest.TestCase):
    def test_empty_string_means_defaults(self):
        c = Config.parse("")
        self.assertEqual(c.take_or("epochs", 20, u32), 20)
        c.finish()

    def test_typed_values(self):
        c = Config.parse(" epochs = 3, lr=1e-4 ,")
        self.assertEqual(c.take_or("epochs", 20, u32), 3)
        # 1e-4 as Rust's f32 parse gives it: 0.0000999999974737875...
        self.assertEqual(c.take_or("lr", 1e-3, f32), 9.999999747378752e-05)
        c.finish()

    def test_unknown_keys_are_refused_with_rusts_message(self):
        c = Config.parse("epochs=3,lr=0.1,momentum=0.9")
        c.take("epochs", u32)
        with self.assertRaises(ConfigError) as e:
            c.finish()
        self.assertEqual(str(e.exception), "unknown config keys: lr, momentum")
        self.assertEqual(e.exception.kind, "unknown-keys")

    def test_malformed_duplicate_and_invalid_entries(self):
        for text, kind, message in [
            ("epochs", "malformed", 'config entry "epochs" is not key=value'),
            ("=3", "malformed", 'config entry "=3" is not key=value'),
            ("a=1,a=2", "duplicate-key", 'config key "a" given twice'),
        ]:
            with self.assertRaises(ConfigError) as e:
                Config.parse(text)
            self.assertEqual((e.exception.kind, str(e.exception)), (kind, message))
        c = Config.parse("epochs=-1,batch=1_000,lr=fast,mode=x=y")
        for key, parser, message in [
            ("epochs", u32, 'config key "epochs": invalid value "-1": invalid digit found in string'),
            ("batch", usize, 'config key "batch": invalid value "1_000": invalid digit found in string'),
            ("lr", f32, 'config key "lr": invalid value "fast": invalid float literal'),
        ]:
            with self.assertRaises(ConfigError) as e:
                c.take(key, parser)
            self.assertEqual(str(e.exception), message)
        self.assertEqual(c.take("mode", string), "x=y")
        with self.assertRaises(ConfigError):
            Config.parse("n=4294967296").take("n", u32)


class IndicesTest(unittest.TestCase):
    def test_batches_keep_the_remainder(self):
        order = list(range(300))
        b = list(batches(order, 128))
        self.assertEqual([len(x) for x in b], [128, 128, 44])
        self.assertEqual(b[2], order[256:])
        with self.assertRaises(ValueError):
            list(batches(order, 0))

    def test_folds_partition_the_indices(self):
        idx = list(range(10))
        seen = []
        for f in range(3):
            train, held = k_fold(idx, 3, f)
            self.assertEqual(len(train) + len(held), 10)
            seen.extend(held)
        self.assertEqual(seen, idx)
        self.assertEqual(k_fold([], 3, 0), ([], []))
        self.assertEqual(k_fold(idx, 3, 1), ([0, 1, 2, 6, 7, 8, 9], [3, 4, 5]))
        self.assertEqual(subset([4, 5, 6], [True, False, True]), [4, 6])


class MatrixTest(unittest.TestCase):
    def test_rows_and_argmax(self):
        m = Matrix([0.1, 0.9, 0.7, 0.3, 0.5, 0.5], 2)
        self.assertEqual(m.rows(), 3)
        self.assertEqual(m.row(1), [0.7, 0.3])
        self.assertEqual(m.argmax_rows(), [1, 0, 0])
        self.assertEqual(argmax([float("nan"), 0.1, 0.3]), 2)
        self.assertEqual(argmax([]), 0)
        with self.assertRaises(ValueError):
            Matrix([1.0] * 5, 2)

    def test_one_hot_then_gather(self):
        m = Matrix.one_hot([2, 0, 1], 3)
        self.assertEqual(m.gather([2, 0]), [0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
        self.assertEqual(one_hot(1, 3), [0.0, 1.0, 0.0])


class ArchTest(unittest.TestCase):
    def test_fallbacks_as_in_rust(self):
        mlp = lambda h: ArchLimit(ArchFamily.MLP, h)  # noqa: E731
        self.assertEqual(Arch.mlp(128).within([LINEAR, mlp(256)]), Arch.mlp(128))
        self.assertEqual(Arch.mlp(128).within([LINEAR, mlp(64)]), Arch.mlp(64))
        self.assertEqual(Arch.mlp(128).within([LINEAR]), Arch.linear())
        self.assertIsNone(Arch.mlp(128).within([mlp(0)]))
        self.assertIsNone(largest_allowed([]))
        self.assertFalse(mlp(8).allows(Arch.mlp(0)))


class F32Test(unittest.TestCase):
    def test_rounds_as_ieee_single_precision(self):
        self.assertEqual(f32math.f32(0.1), 0.10000000149011612)
        a, b = f32math.f32(0.1), f32math.f32(0.2)
        # f32: 0.1 + 0.2 = 0.3 (0x3e99999a), not f64's 0.30000000000000004.
        self.assertEqual(f32math.add(a, b), 0.30000001192092896)
        self.assertEqual(f32math.sub(1.0, f32math.f32(0.75)), 0.25)
        self.assertEqual(f32math.mul(f32math.f32(1e20), f32math.f32(1e20)), float("inf"))
        self.assertEqual(f32math.div(1.0, 3.0), 0.3333333432674408)
        self.assertEqual(f32math.div(-1.0, 0.0), float("-inf"))
        self.assertNotEqual(f32math.div(0.0, 0.0), f32math.div(0.0, 0.0))


if __name__ == "__main__":
    unittest.main()

//! A guest that turns a byte script into host calls, for the property test
//! in `tests/all/fuzz.rs`. The config string is `script=<hex>`.
//!
//! It calls the raw WIT bindings (no SDK checks in between), so every
//! argument the script can encode reaches the host: out-of-range indices,
//! lists of the wrong length, NaN and infinite floats, zero and huge
//! widths, optimizers shared between students, handles dropped halfway.
//! Handles themselves are always real (the bindings cannot forge one; the
//! WAT fixtures do that). Host refusals (WIT errors) are counted and the
//! script goes on; a limit ends the run, as it would any guest.
//!
//! # Script
//!
//! A sequence of operations, each an opcode byte (taken mod 16) and its
//! arguments; a script that runs out of bytes ends there, as if by `err`.
//! `s`/`o` bytes pick a live student/optimizer (mod the number alive; the
//! operation is skipped when there is none), `f` bytes are floats
//! ([`float`]), and `list` is a length byte and a kind byte ([`Cursor::indices`]).
//!
//! | op | arguments | call |
//! |---|---|---|
//! | 0 | `a h h seed` | `student.create`: linear if `a % 4 == 0`, else `mlp(h)` (u16 `h`, may be 0 or over the limit) |
//! | 1 | `s` | `student.duplicate` |
//! | 2 | `s` | drop a student |
//! | 3 | `k f f f f f f` | `optimizer` constructor: kind `k % 2`, lr, weight decay, beta1, beta2, eps, momentum |
//! | 4 | `o` | drop an optimizer |
//! | 5 | `o f` | `set-learning-rate` |
//! | 6 | `s list` | `predict` |
//! | 7 | `s list` | `hidden` |
//! | 8 | `s o list t f w f` | `train-step`: one-hot targets and unit weights, with one target and one weight replaced by `f`; `t % 8` 0/1 makes targets one short/long, `w % 8` 0 makes weights one short |
//! | 9 | `list` | `task.weak-labels` |
//! | 10 | `s` | `architecture` and `hidden-dim` |
//! | 11 | `step len f` | `metrics.log` with a name of `len` bytes |
//! | 12 | | every `task` query |
//! | 13 | `s` | return student `s` (or `err` if none is alive) |
//! | 14 | | return `err("script")` |
//! | 15 | `n` | create `n` linear students |

use w2s_guest_sdk::bindings::w2s::strategy::metrics;
use w2s_guest_sdk::bindings::w2s::strategy::student::{Optimizer, Student};
use w2s_guest_sdk::bindings::w2s::strategy::task;
use w2s_guest_sdk::bindings::w2s::strategy::types::{Arch, Mlp, OptimizerConfig, OptimizerKind};

/// The floats a script byte below 128 names; bytes from 128 give
/// `(b - 128) / 64`, in [0, 2).
const FLOATS: [f32; 16] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    1e-3,
    0.9,
    0.999,
    1e-8,
    10.0,
    11.0,
    1e30,
    -1e30,
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::MIN_POSITIVE,
];

/// The float a script byte names.
fn float(b: u8) -> f32 {
    if b >= 128 {
        f32::from(b - 128) / 64.0
    } else {
        FLOATS[usize::from(b) % FLOATS.len()]
    }
}

/// Reads a script, byte by byte; past the end it reports `None`.
struct Cursor {
    bytes: Vec<u8>,
    pos: usize,
    /// splitmix64 state for arbitrary index values.
    mix: u64,
}

impl Cursor {
    fn u8(&mut self) -> Option<u8> {
        let b = self.bytes.get(self.pos).copied();
        self.pos += 1;
        b
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }

    fn f(&mut self) -> Option<f32> {
        self.u8().map(float)
    }

    fn next_random(&mut self) -> u64 {
        self.mix = self.mix.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.mix;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// An index list: a length byte (255 means 65537, one over the default
    /// per-call limit) and a kind byte: `% 4` 0 in-pool sequence, 1
    /// arbitrary values in [0, pool + 2), 2 in-pool with `pool` at the end,
    /// 3 in-pool with `u32::MAX` at the end.
    fn indices(&mut self, pool: u32) -> Option<Vec<u32>> {
        let len = match self.u8()? {
            255 => 65_537,
            n => usize::from(n),
        };
        let kind = self.u8()? % 4;
        let pool = pool.max(1);
        let mut v: Vec<u32> = match kind {
            1 => (0..len)
                .map(|_| (self.next_random() % (u64::from(pool) + 2)) as u32)
                .collect(),
            _ => (0..len as u32).map(|i| i % pool).collect(),
        };
        if let Some(last) = v.last_mut() {
            match kind {
                2 => *last = pool,
                3 => *last = u32::MAX,
                _ => {}
            }
        }
        Some(v)
    }
}

/// Picks the `b`-th (mod len) element, or `None` when there is none.
fn pick<T>(items: &[T], b: u8) -> Option<usize> {
    (!items.is_empty()).then(|| usize::from(b) % items.len())
}

/// What the script has built so far.
struct World {
    students: Vec<Student>,
    optimizers: Vec<Optimizer>,
    pool: u32,
    classes: u32,
    refusals: u32,
}

/// How a script ends.
enum End {
    Return(usize),
    Err,
}

impl World {
    /// Runs one operation; `None` when the script ran out of bytes.
    fn step(&mut self, c: &mut Cursor) -> Option<Option<End>> {
        let op = c.u8()? % 16;
        match op {
            0 => {
                let a = c.u8()?;
                let h = c.u16()?;
                let seed = u64::from(c.u8()?);
                let arch = if a % 4 == 0 {
                    Arch::Linear
                } else {
                    Arch::Mlp(Mlp {
                        hidden: u32::from(h),
                    })
                };
                self.keep_student(Student::create(arch, seed));
            }
            1 => {
                if let Some(i) = pick(&self.students, c.u8()?) {
                    let copy = self.students[i].duplicate();
                    self.keep_student(copy);
                }
            }
            2 => {
                if let Some(i) = pick(&self.students, c.u8()?) {
                    drop(self.students.swap_remove(i));
                }
            }
            3 => {
                let kind = if c.u8()? % 2 == 0 {
                    OptimizerKind::Adamw
                } else {
                    OptimizerKind::Sgd
                };
                let config = OptimizerConfig {
                    kind,
                    learning_rate: c.f()?,
                    weight_decay: c.f()?,
                    beta1: c.f()?,
                    beta2: c.f()?,
                    eps: c.f()?,
                    momentum: c.f()?,
                };
                self.optimizers.push(Optimizer::new(config));
            }
            4 => {
                if let Some(i) = pick(&self.optimizers, c.u8()?) {
                    drop(self.optimizers.swap_remove(i));
                }
            }
            5 => {
                let o = c.u8()?;
                let lr = c.f()?;
                if let Some(i) = pick(&self.optimizers, o) {
                    self.count(self.optimizers[i].set_learning_rate(lr));
                }
            }
            6 | 7 => {
                let s = c.u8()?;
                let indices = c.indices(self.pool)?;
                if let Some(i) = pick(&self.students, s) {
                    let student = &self.students[i];
                    let r = if op == 6 {
                        student.predict(&indices)
                    } else {
                        student.hidden(&indices)
                    };
                    self.count(r);
                }
            }
            8 => {
                let (s, o) = (c.u8()?, c.u8()?);
                let indices = c.indices(self.pool)?;
                let (t, tv, w, wv) = (c.u8()?, c.f()?, c.u8()?, c.f()?);
                let k = self.classes as usize;
                let mut targets = vec![0.0f32; indices.len() * k];
                for row in targets.chunks_mut(k.max(1)) {
                    row[0] = 1.0;
                }
                match t % 8 {
                    0 => {
                        targets.pop();
                    }
                    1 => targets.push(1.0),
                    _ => {}
                }
                let at = usize::from(t) % targets.len().max(1);
                if let Some(x) = targets.get_mut(at) {
                    *x = tv;
                }
                let mut weights = vec![1.0f32; indices.len()];
                let at = usize::from(w) % weights.len().max(1);
                if let Some(x) = weights.get_mut(at) {
                    *x = wv;
                }
                if w % 8 == 0 {
                    weights.pop();
                }
                if let (Some(si), Some(oi)) = (pick(&self.students, s), pick(&self.optimizers, o)) {
                    let r = self.students[si].train_step(
                        &self.optimizers[oi],
                        &indices,
                        &targets,
                        &weights,
                    );
                    self.count(r);
                }
            }
            9 => {
                let indices = c.indices(self.pool)?;
                self.count(task::weak_labels(&indices));
            }
            10 => {
                if let Some(i) = pick(&self.students, c.u8()?) {
                    let _ = self.students[i].architecture();
                    let _ = self.students[i].hidden_dim();
                }
            }
            11 => {
                let step = u32::from(c.u8()?);
                let len = usize::from(c.u8()?);
                let value = f64::from(c.f()?);
                metrics::log(step, &"m".repeat(len), value);
            }
            12 => {
                let _ = task::name();
                let _ = task::seed();
                self.classes = task::num_classes();
                self.pool = task::pool_size();
                let _ = task::feature_dim();
                let _ = task::allowed_architectures();
            }
            13 => {
                let s = c.u8()?;
                return Some(Some(match pick(&self.students, s) {
                    Some(i) => End::Return(i),
                    None => End::Err,
                }));
            }
            14 => return Some(Some(End::Err)),
            _ => {
                for _ in 0..c.u8()? {
                    self.keep_student(Student::create(Arch::Linear, 0));
                }
            }
        }
        Some(None)
    }

    fn keep_student<E>(&mut self, r: Result<Student, E>) {
        match r {
            Ok(s) => self.students.push(s),
            Err(_) => self.refusals += 1,
        }
    }

    fn count<T, E>(&mut self, r: Result<T, E>) {
        if r.is_err() {
            self.refusals += 1;
        }
    }
}

/// Decodes lowercase or uppercase hex.
fn unhex(text: &str) -> Result<Vec<u8>, String> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(format!("not hex: {:?}", b as char)),
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err("odd number of hex digits".to_owned());
    }
    bytes
        .chunks(2)
        .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// The exported `run`.
struct Driver;

impl w2s_guest_sdk::bindings::Guest for Driver {
    fn run(config: String) -> Result<Student, String> {
        let hex = config
            .strip_prefix("script=")
            .ok_or("config must be script=<hex>")?;
        let bytes = unhex(hex)?;
        let mix = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let mut cursor = Cursor { bytes, pos: 0, mix };
        let mut world = World {
            students: Vec::new(),
            optimizers: Vec::new(),
            pool: task::pool_size(),
            classes: task::num_classes(),
            refusals: 0,
        };
        loop {
            match world.step(&mut cursor) {
                None | Some(Some(End::Err)) => {
                    return Err(format!("script ended ({} refusals)", world.refusals));
                }
                Some(Some(End::Return(i))) => return Ok(world.students.swap_remove(i)),
                Some(None) => {}
            }
        }
    }
}

w2s_guest_sdk::bindings::export!(Driver with_types_in w2s_guest_sdk::bindings);

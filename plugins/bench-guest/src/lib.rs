//! Not a strategy: a guest that loops over one kind of host call, for the
//! call-overhead figures of `w2s-bench` (`docs/PERFORMANCE.md`).
//!
//! Config keys: `loop` (which loop, default `empty`) and `n` (iterations,
//! default 100000).
//!
//! - `empty`: the loop alone (`black_box` of the counter), the baseline;
//! - `num-classes`: one `task.num-classes` call per iteration, the
//!   cheapest host call there is;
//! - `tensor-add`: one `tensor.binary(add)` of two 4x4 host tensors per
//!   iteration, and the drop of its result (a second host call, as in any
//!   real use).
//!
//! Every loop then returns the same linear student, so the runs differ only
//! in the loop. The bench times whole runs from the host and reports
//! `(run time - empty-loop run time) / n` per call.

use std::hint::black_box;

use w2s_guest_sdk::{Arch, BinaryOp, Config, Strategy, StrategyError, Student, Tensor, task};

/// Which loop to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loop {
    Empty,
    NumClasses,
    TensorAdd,
}

impl Loop {
    fn parse(name: &str) -> Result<Self, StrategyError> {
        match name {
            "empty" => Ok(Self::Empty),
            "num-classes" => Ok(Self::NumClasses),
            "tensor-add" => Ok(Self::TensorAdd),
            other => Err(format!("unknown loop {other:?} (empty, num-classes, tensor-add)").into()),
        }
    }
}

/// The bench guest's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Settings {
    /// The loop to run.
    what: Loop,
    /// Iterations.
    n: u64,
}

impl Settings {
    fn parse(config: &str) -> Result<Self, StrategyError> {
        let mut c = Config::parse(config)?;
        let what: String = c.take_or("loop", "empty".to_owned())?;
        let n = c.take_or("n", 100_000)?;
        c.finish()?;
        Ok(Self {
            what: Loop::parse(&what)?,
            n,
        })
    }
}

/// Runs the chosen loop.
struct BenchGuest;

impl Strategy for BenchGuest {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let settings = Settings::parse(config)?;
        match settings.what {
            Loop::Empty => {
                for i in 0..settings.n {
                    black_box(i);
                }
            }
            Loop::NumClasses => {
                for _ in 0..settings.n {
                    black_box(task::num_classes());
                }
            }
            Loop::TensorAdd => {
                let a = Tensor::from_slice(&[1.0; 16], &[4, 4])?;
                let b = Tensor::from_slice(&[2.0; 16], &[4, 4])?;
                for _ in 0..settings.n {
                    black_box(a.binary(BinaryOp::Add, &b)?);
                }
            }
        }
        Ok(Student::create(Arch::Linear, task::seed())?)
    }
}

w2s_guest_sdk::export_strategy!(BenchGuest);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_pick_the_loop() {
        assert_eq!(
            Settings::parse("").unwrap(),
            Settings {
                what: Loop::Empty,
                n: 100_000
            }
        );
        let s = Settings::parse("loop=tensor-add,n=10").unwrap();
        assert_eq!((s.what, s.n), (Loop::TensorAdd, 10));
        assert!(Settings::parse("loop=sleep").is_err());
        assert!(Settings::parse("iterations=3").is_err());
    }
}

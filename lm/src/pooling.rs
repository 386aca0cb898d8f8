//! From per-token hidden states to one vector per text.

use candle_core::{DType, Tensor};

use crate::error::{LmError, Result};

/// How a text's token states become one feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooling {
    /// The state of the last real token (EleutherAI's w2s and OpenAI's
    /// `--linear_probe` read this one).
    #[default]
    LastToken,
    /// The mean of the states of the real tokens.
    Mean,
}

impl Pooling {
    /// The name used on the command line and in provenance.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::LastToken => "last-token",
            Pooling::Mean => "mean",
        }
    }
}

impl std::str::FromStr for Pooling {
    type Err = LmError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "last-token" | "last" => Ok(Pooling::LastToken),
            "mean" => Ok(Pooling::Mean),
            other => Err(LmError::invalid(
                "pooling",
                format!("{other:?} is not last-token or mean"),
            )),
        }
    }
}

impl std::fmt::Display for Pooling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Pools the stacked states of sequences of `lens` tokens (each at least
/// 1), `hidden` row-major `(sum of lens, dim)` (the frozen forward's
/// layout), into row-major `(lens.len(), dim)`. Mean pooling sums the
/// tokens in order, then divides by the count.
pub fn pool_stacked(hidden: &[f32], dim: usize, lens: &[usize], pooling: Pooling) -> Vec<f32> {
    assert_eq!(
        hidden.len(),
        lens.iter().sum::<usize>() * dim,
        "one row per token"
    );
    assert!(lens.iter().all(|&l| l >= 1), "lengths of at least 1");
    let mut out = Vec::with_capacity(lens.len() * dim);
    let mut row = 0;
    for &len in lens {
        let rows = &hidden[row * dim..(row + len) * dim];
        match pooling {
            Pooling::LastToken => out.extend_from_slice(&rows[(len - 1) * dim..]),
            Pooling::Mean => {
                let mut sum = vec![0f32; dim];
                for token in rows.chunks_exact(dim) {
                    for (s, &v) in sum.iter_mut().zip(token) {
                        *s += v;
                    }
                }
                out.extend(sum.iter().map(|s| s / len as f32));
            }
        }
        row += len;
    }
    out
}

/// Pools `hidden` `(batch, seq, dim)` of a right-padded batch whose rows
/// have `lens` real tokens (each in `1..=seq`) into `(batch, dim)`.
pub fn pool(hidden: &Tensor, lens: &[usize], pooling: Pooling) -> Result<Tensor> {
    let (b, s, d) = hidden.dims3()?;
    assert_eq!(lens.len(), b, "one length per row");
    assert!(
        lens.iter().all(|&l| (1..=s).contains(&l)),
        "lengths in 1..=seq"
    );
    let device = hidden.device();
    match pooling {
        Pooling::LastToken => {
            let rows: Vec<u32> = lens
                .iter()
                .enumerate()
                .map(|(i, &l)| (i * s + l - 1) as u32)
                .collect();
            let rows = Tensor::from_vec(rows, b, device)?;
            Ok(hidden.reshape((b * s, d))?.index_select(&rows, 0)?)
        }
        Pooling::Mean => {
            let mask: Vec<f32> = lens
                .iter()
                .flat_map(|&l| (0..s).map(move |j| if j < l { 1.0 } else { 0.0 }))
                .collect();
            let mask = Tensor::from_vec(mask, (b, s, 1), device)?;
            let counts: Vec<f32> = lens.iter().map(|&l| l as f32).collect();
            let counts = Tensor::from_vec(counts, (b, 1), device)?.to_dtype(DType::F32)?;
            let sum = hidden.broadcast_mul(&mask)?.sum(1)?;
            Ok(sum.broadcast_div(&counts)?)
        }
    }
}

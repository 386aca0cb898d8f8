//! Rotary position embeddings, as Hugging Face computes them: inverse
//! frequencies `1 / theta^(2i / d)` in f32 (with the config's scaling),
//! angles `position * inv_freq` in f32, and the "rotate half" layout
//! (`x * cos + rotate_half(x) * sin`, the two halves of each head being the
//! pairs).

use candle_core::{D, Device, Tensor};

use crate::config::{ModelConfig, RopeScaling};
use crate::error::Result;

/// The per-position rotation tables of one model.
#[derive(Debug, Clone)]
pub struct Rope {
    inv_freq: Vec<f32>,
}

impl Rope {
    /// The frequencies of `config`.
    pub fn new(config: &ModelConfig) -> Self {
        let d = config.head_dim;
        let theta = config.rope_theta as f32;
        let base: Vec<f32> = (0..d / 2)
            .map(|i| 1.0 / theta.powf((2 * i) as f32 / d as f32))
            .collect();
        let inv_freq = match config.rope_scaling {
            RopeScaling::None => base,
            RopeScaling::Linear { factor } => base.iter().map(|f| f / factor).collect(),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: old_len,
            } => {
                // transformers' `_compute_llama3_parameters`, step for step.
                let low_wavelen = old_len / low_freq_factor;
                let high_wavelen = old_len / high_freq_factor;
                base.iter()
                    .map(|&f| {
                        let wavelen = 2.0 * std::f32::consts::PI / f;
                        let scaled = if wavelen > low_wavelen { f / factor } else { f };
                        let smooth = (old_len / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        // transformers' `~(wavelen < high) * ~(wavelen > low)`
                        // (frequencies are finite, so no NaN to mind).
                        let medium = wavelen >= high_wavelen && wavelen <= low_wavelen;
                        if medium {
                            (1.0 - smooth) * scaled / factor + smooth * scaled
                        } else {
                            scaled
                        }
                    })
                    .collect()
            }
        };
        Self { inv_freq }
    }

    /// `(cos, sin)`, each `seq` rows of `head_dim / 2` values (one per
    /// pair), for positions `0..seq`: the same values as
    /// [`Rope::tables`]' halves, for the frozen forward.
    pub(crate) fn half_tables(&self, seq: usize) -> (Vec<f32>, Vec<f32>) {
        let mut cos = Vec::with_capacity(seq * self.inv_freq.len());
        let mut sin = Vec::with_capacity(seq * self.inv_freq.len());
        for p in 0..seq {
            for f in &self.inv_freq {
                let angle = p as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        (cos, sin)
    }

    /// `(cos, sin)`, each `(1, 1, seq, head_dim)`, for positions `0..seq`.
    pub fn tables(&self, seq: usize, device: &Device) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(seq * half * 2);
        let mut sin = Vec::with_capacity(seq * half * 2);
        for p in 0..seq {
            let row: Vec<f32> = self.inv_freq.iter().map(|f| p as f32 * f).collect();
            for _ in 0..2 {
                cos.extend(row.iter().map(|a| a.cos()));
                sin.extend(row.iter().map(|a| a.sin()));
            }
        }
        let shape = (1, 1, seq, half * 2);
        Ok((
            Tensor::from_vec(cos, shape, device)?,
            Tensor::from_vec(sin, shape, device)?,
        ))
    }
}

/// Rotates `x` `(batch, heads, seq, head_dim)` by the tables.
pub fn apply(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let x1 = x.narrow(D::Minus1, 0, d / 2)?;
    let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    Ok((x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?)?)
}

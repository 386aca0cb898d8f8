//! Batched feature extraction: texts in, one pooled hidden state per text
//! out.
//!
//! Texts are tokenized in one batched call, then run in batches of
//! `batch_size` in order of decreasing token length (so a batch pads to
//! rows of similar length), and the features are put back in the input
//! order. The order, and so every batch's composition and every bit of the
//! result, depends only on the texts and the settings.
//!
//! The forward is a [`FeatureModel`]: [`ExtractionModel::load`] picks the
//! frozen forward ([`FrozenDecoder`], our GEMM, no autograd) on the CPU and
//! the candle forward ([`Decoder`]) elsewhere.

use candle_core::{Device, Tensor};
use tokenizers::Encoding;

use crate::config::ModelConfig;
use crate::decoder::Decoder;
use crate::error::{LmError, Result};
use crate::frozen::FrozenDecoder;
use crate::pooling::{Pooling, pool, pool_stacked};
use crate::tokenizer::TextTokenizer;
use crate::weights::WeightFiles;

/// A forward pass that turns a batch of encoded texts into pooled
/// features.
pub trait FeatureModel {
    /// The model's config.
    fn config(&self) -> &ModelConfig;

    /// Pooled features of `batch` (unpadded encodings), row-major
    /// `(batch.len(), hidden)`.
    fn pooled(
        &self,
        tokenizer: &TextTokenizer,
        batch: &[Encoding],
        pooling: Pooling,
    ) -> Result<Vec<f32>>;
}

impl FeatureModel for Decoder {
    fn config(&self) -> &ModelConfig {
        Decoder::config(self)
    }

    fn pooled(
        &self,
        tokenizer: &TextTokenizer,
        batch: &[Encoding],
        pooling: Pooling,
    ) -> Result<Vec<f32>> {
        let batch = tokenizer.pad(batch)?;
        let hidden = self.hidden_states(&batch.ids, &batch.mask, batch.batch, batch.seq)?;
        let pooled: Tensor = pool(&hidden, &batch.lens, pooling)?;
        Ok(pooled.flatten_all()?.to_vec1::<f32>()?)
    }
}

impl FeatureModel for FrozenDecoder {
    fn config(&self) -> &ModelConfig {
        FrozenDecoder::config(self)
    }

    fn pooled(&self, _: &TextTokenizer, batch: &[Encoding], pooling: Pooling) -> Result<Vec<f32>> {
        let sequences: Vec<&[u32]> = batch.iter().map(Encoding::get_ids).collect();
        if sequences.iter().any(|s| s.is_empty()) {
            return Err(LmError::invalid("text", "a text encodes to no token"));
        }
        let dim = self.config().hidden_size;
        if pooling == Pooling::LastToken {
            // The same bits as pooling every token's states, for less work.
            return self.last_token_states(&sequences);
        }
        let lens: Vec<usize> = sequences.iter().map(|s| s.len()).collect();
        let hidden = self.hidden_states(&sequences)?;
        Ok(pool_stacked(&hidden, dim, &lens, pooling))
    }
}

/// The forward extraction runs: frozen on the CPU, candle elsewhere.
#[derive(Debug, Clone)]
pub enum ExtractionModel {
    /// The inference-only forward (CPU).
    Frozen(FrozenDecoder),
    /// The candle forward (any device).
    Candle(Decoder),
}

impl ExtractionModel {
    /// Loads the model up to `layer` for `device`: [`FrozenDecoder`] on the
    /// CPU, [`Decoder`] on any other device.
    pub fn load(
        weights: &WeightFiles,
        config: &ModelConfig,
        layer: usize,
        device: &Device,
    ) -> Result<Self> {
        Ok(if device.is_cpu() {
            Self::Frozen(FrozenDecoder::load(weights, config, layer)?)
        } else {
            Self::Candle(Decoder::load(weights, config, layer, device)?)
        })
    }
}

impl FeatureModel for ExtractionModel {
    fn config(&self) -> &ModelConfig {
        match self {
            Self::Frozen(m) => FeatureModel::config(m),
            Self::Candle(m) => FeatureModel::config(m),
        }
    }

    fn pooled(
        &self,
        tokenizer: &TextTokenizer,
        batch: &[Encoding],
        pooling: Pooling,
    ) -> Result<Vec<f32>> {
        match self {
            Self::Frozen(m) => m.pooled(tokenizer, batch, pooling),
            Self::Candle(m) => m.pooled(tokenizer, batch, pooling),
        }
    }
}

/// Progress of an extraction, after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Texts done.
    pub texts_done: usize,
    /// Texts in all.
    pub texts_total: usize,
    /// Real tokens run so far.
    pub tokens_done: usize,
    /// Real tokens in all.
    pub tokens_total: usize,
}

/// Pooled features of `texts`: row-major `(texts.len(), hidden)` f32, and
/// the number of real tokens run. `on_batch` is called after each batch.
pub fn extract(
    decoder: &impl FeatureModel,
    tokenizer: &TextTokenizer,
    texts: &[&str],
    pooling: Pooling,
    batch_size: usize,
    on_batch: &mut dyn FnMut(Progress),
) -> Result<(Vec<f32>, usize)> {
    if batch_size == 0 {
        return Err(LmError::invalid("batch size", "must be positive"));
    }
    let dim = decoder.config().hidden_size;
    let encodings = tokenizer.encode_all(texts)?;
    let mut order: Vec<usize> = (0..texts.len()).collect();
    // Longest first, ties in input order (a stable sort).
    order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].len()));
    let tokens_total: usize = encodings.iter().map(|e| e.len()).sum();
    let mut out = vec![0f32; texts.len() * dim];
    let mut progress = Progress {
        texts_done: 0,
        texts_total: texts.len(),
        tokens_done: 0,
        tokens_total,
    };
    for chunk in order.chunks(batch_size) {
        let picked: Vec<_> = chunk.iter().map(|&i| encodings[i].clone()).collect();
        let rows = decoder.pooled(tokenizer, &picked, pooling)?;
        for (&i, row) in chunk.iter().zip(rows.chunks_exact(dim)) {
            out[i * dim..(i + 1) * dim].copy_from_slice(row);
        }
        progress.texts_done += chunk.len();
        progress.tokens_done += picked.iter().map(Encoding::len).sum::<usize>();
        on_batch(progress);
    }
    if let Some(i) = out.iter().position(|v| !v.is_finite()) {
        return Err(LmError::invalid(
            "features",
            format!(
                "non-finite hidden state at text {} (flat index {i})",
                i / dim
            ),
        ));
    }
    Ok((out, tokens_total))
}

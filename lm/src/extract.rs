//! Batched feature extraction: texts in, one pooled hidden state per text
//! out.
//!
//! Texts are tokenized in one batched call, then run in batches of
//! `batch_size` in order of decreasing token length (so a batch pads to
//! rows of similar length), and the features are put back in the input
//! order. The order, and so every batch's composition and every bit of the
//! result, depends only on the texts and the settings.

use candle_core::Tensor;

use crate::decoder::Decoder;
use crate::error::{LmError, Result};
use crate::pooling::{Pooling, pool};
use crate::tokenizer::TextTokenizer;

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
    decoder: &Decoder,
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
        let batch = tokenizer.pad(&picked)?;
        let hidden = decoder.hidden_states(&batch.ids, &batch.mask, batch.batch, batch.seq)?;
        let pooled: Tensor = pool(&hidden, &batch.lens, pooling)?;
        let rows = pooled.to_vec2::<f32>()?;
        for (&i, row) in chunk.iter().zip(rows) {
            out[i * dim..(i + 1) * dim].copy_from_slice(&row);
        }
        progress.texts_done += chunk.len();
        progress.tokens_done += batch.lens.iter().sum::<usize>();
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

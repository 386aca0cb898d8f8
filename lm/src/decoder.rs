//! The decoder stack, run up to the layer whose hidden states we want.
//!
//! Layer numbering follows transformers' `output_hidden_states`: layer 0
//! is the token embeddings, layer `l` the residual stream after `l` blocks,
//! and layer `num_layers` the output of the last block *after the final
//! norm* (transformers overwrites its last hidden state with the normed
//! one). Only the blocks below the requested layer are loaded and run.

use candle_core::{DType, Device, Tensor};

use crate::attention::mask_bias;
use crate::block::Block;
use crate::config::ModelConfig;
use crate::error::{LmError, Result};
use crate::lora::BlockAdapters;
use crate::norm::RmsNorm;
use crate::rope::Rope;
use crate::weights::{WeightFiles, weights_err};

/// A decoder loaded up to some layer.
#[derive(Debug, Clone)]
pub struct Decoder {
    config: ModelConfig,
    embed: Tensor,
    blocks: Vec<Block>,
    /// Loaded only when the blocks reach the top of the stack.
    final_norm: Option<RmsNorm>,
    rope: Rope,
    device: Device,
}

impl Decoder {
    /// Loads the embeddings and the blocks needed for hidden states at
    /// `layer` (`0..=num_layers`), on `device`.
    pub fn load(
        weights: &WeightFiles,
        config: &ModelConfig,
        layer: usize,
        device: &Device,
    ) -> Result<Self> {
        check_layer(config, layer)?;
        let prefix = tensor_prefix(weights)?;
        let embed = weights.load(
            &format!("{prefix}embed_tokens.weight"),
            &[config.vocab_size, config.hidden_size],
            device,
        )?;
        let blocks = (0..layer)
            .map(|i| Block::load(weights, prefix, i, config, device))
            .collect::<Result<Vec<_>>>()?;
        let final_norm = if layer == config.num_layers {
            Some(RmsNorm::load(
                weights,
                &format!("{prefix}norm.weight"),
                config.hidden_size,
                config.rms_norm_eps,
                device,
            )?)
        } else {
            None
        };
        Ok(Self {
            config: config.clone(),
            embed,
            blocks,
            final_norm,
            rope: Rope::new(config),
            device: device.clone(),
        })
    }

    /// The config.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The layer whose hidden states [`Decoder::hidden_states`] returns.
    pub fn layer(&self) -> usize {
        self.blocks.len()
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The loaded blocks (for adapters that wrap their projections).
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The token embeddings `(vocab, hidden)` (also the output layer of a
    /// model with tied embeddings).
    pub fn embedding(&self) -> &Tensor {
        &self.embed
    }

    /// The rows `token_ids` of the output layer, `(n, hidden)`: the
    /// `lm_head.weight` rows when the checkpoint has one, else the
    /// embedding's (tied embeddings). The logit of token `t` at a position
    /// is the final hidden state there times row `t`.
    pub fn output_rows(&self, weights: &WeightFiles, token_ids: &[u32]) -> Result<Tensor> {
        if let Some(&bad) = token_ids
            .iter()
            .find(|&&t| t as usize >= self.config.vocab_size)
        {
            return Err(LmError::invalid(
                "token id",
                format!(
                    "{bad} is outside the vocabulary (vocab_size {})",
                    self.config.vocab_size
                ),
            ));
        }
        let ids = Tensor::from_slice(token_ids, token_ids.len(), &self.device)?;
        let table = if weights.contains("lm_head.weight") {
            weights
                .load(
                    "lm_head.weight",
                    &[self.config.vocab_size, self.config.hidden_size],
                    &self.device,
                )?
                .to_dtype(self.embed.dtype())?
        } else {
            self.embed.clone()
        };
        Ok(table.index_select(&ids, 0)?)
    }

    /// The same decoder with every tensor converted to `dtype` (f64 for
    /// finite-difference checks; the forward follows the weights' dtype).
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        Ok(Self {
            config: self.config.clone(),
            embed: self.embed.to_dtype(dtype)?,
            blocks: self
                .blocks
                .iter()
                .map(|b| b.to_dtype(dtype))
                .collect::<Result<_>>()?,
            final_norm: self
                .final_norm
                .as_ref()
                .map(|n| n.to_dtype(dtype))
                .transpose()?,
            rope: self.rope.clone(),
            device: self.device.clone(),
        })
    }

    /// Hidden states `(batch, seq, hidden)` at [`Decoder::layer`] for
    /// `ids` and `mask` (each `batch * seq`, row-major; mask 1 for real
    /// tokens, 0 for padding). Positions count from the start of each row,
    /// so rows must be right-padded.
    pub fn hidden_states(
        &self,
        ids: &[u32],
        mask: &[u32],
        batch: usize,
        seq: usize,
    ) -> Result<Tensor> {
        self.hidden_states_with(ids, mask, batch, seq, &[])
    }

    /// [`Decoder::hidden_states`] with low-rank adapters: `adapters[i]`
    /// are block `i`'s (an empty slice: none). Gradients reach the
    /// adapters' tensors when they are candle variables.
    pub fn hidden_states_with(
        &self,
        ids: &[u32],
        mask: &[u32],
        batch: usize,
        seq: usize,
        adapters: &[BlockAdapters<'_>],
    ) -> Result<Tensor> {
        if !adapters.is_empty() && adapters.len() != self.blocks.len() {
            return Err(LmError::invalid(
                "adapters",
                format!(
                    "{} blocks of adapters for {} loaded blocks",
                    adapters.len(),
                    self.blocks.len()
                ),
            ));
        }
        if ids.len() != batch * seq || mask.len() != batch * seq {
            return Err(LmError::invalid(
                "batch",
                format!(
                    "expected {} ids and mask values, got {} and {}",
                    batch * seq,
                    ids.len(),
                    mask.len()
                ),
            ));
        }
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= self.config.vocab_size) {
            return Err(LmError::invalid(
                "token id",
                format!(
                    "{bad} is outside the embedding (vocab_size {})",
                    self.config.vocab_size
                ),
            ));
        }
        if let Some(w) = self.config.sliding_window
            && seq > w
        {
            return Err(LmError::invalid(
                "sequence",
                format!(
                    "{seq} tokens exceed the model's attention window ({w}); only full attention is implemented"
                ),
            ));
        }
        let ids_t = Tensor::from_slice(ids, batch * seq, &self.device)?;
        let mut x =
            self.embed
                .index_select(&ids_t, 0)?
                .reshape((batch, seq, self.config.hidden_size))?;
        if self.blocks.is_empty() && self.final_norm.is_none() {
            return Ok(x);
        }
        let n_rep = self.config.num_heads / self.config.num_kv_heads;
        let dtype = self.embed.dtype();
        let bias = mask_bias(mask, batch, seq, n_rep, &self.device)?.to_dtype(dtype)?;
        let (cos, sin) = self.rope.tables(seq, &self.device)?;
        let (cos, sin) = (cos.to_dtype(dtype)?, sin.to_dtype(dtype)?);
        for (i, block) in self.blocks.iter().enumerate() {
            x = match adapters.get(i) {
                Some(ad) => block.forward_with(&x, &bias, &cos, &sin, ad)?,
                None => block.forward(&x, &bias, &cos, &sin)?,
            };
        }
        match &self.final_norm {
            Some(norm) => norm.forward(&x),
            None => Ok(x),
        }
    }
}

/// The prefix of the checkpoint's tensor names: `model.` (a causal LM's
/// checkpoint) or nothing (a bare model's).
pub(crate) fn tensor_prefix(weights: &WeightFiles) -> Result<&'static str> {
    if weights.contains("model.embed_tokens.weight") {
        Ok("model.")
    } else if weights.contains("embed_tokens.weight") {
        Ok("")
    } else {
        Err(weights_err(
            weights.dir(),
            "no tensor named model.embed_tokens.weight",
        ))
    }
}

/// Checks that `layer` is in `0..=num_layers`.
pub fn check_layer(config: &ModelConfig, layer: usize) -> Result<()> {
    if layer > config.num_layers {
        return Err(LmError::invalid(
            "layer",
            format!(
                "layer {layer} is out of range: this {} model has {} layers, so 0..={} (0 = embeddings, {} = final norm)",
                config.family, config.num_layers, config.num_layers, config.num_layers
            ),
        ));
    }
    Ok(())
}

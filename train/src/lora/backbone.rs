//! The frozen backbone of `lm-lora` students ([`crate::lora`]): the strong
//! model loaded up to its last layer, the output rows of the label tokens,
//! and the compute and memory the host charges for running it.

use candle_core::{DType, Tensor};
use w2s_lm::lora::{Target, target_shape};
use w2s_lm::{Decoder, ModelConfig};

use std::path::Path;

use crate::error::{Result, TrainError};
use crate::lora::LoraSpec;
use crate::lora::tokens::LmSection;

/// The frozen strong model and its label-token output rows, shared by
/// every student of an evaluation.
#[derive(Debug)]
pub struct Backbone {
    pub(crate) decoder: Decoder,
    /// Output-layer rows of the label tokens, `(classes, hidden)`.
    pub(crate) label_rows: Tensor,
}

impl Backbone {
    /// A backbone from a decoder loaded up to its last layer (final norm
    /// included) and the output rows of the label tokens.
    pub fn new(decoder: Decoder, label_rows: Tensor) -> Result<Self> {
        let c = decoder.config();
        if decoder.layer() != c.num_layers {
            return Err(TrainError::invalid(
                "backbone",
                "the decoder must be loaded up to its last layer",
            ));
        }
        if label_rows.rank() != 2 || label_rows.dims()[1] != c.hidden_size {
            return Err(TrainError::invalid(
                "label_rows",
                "must be (classes, hidden)",
            ));
        }
        Ok(Self {
            decoder,
            label_rows,
        })
    }

    /// The model's config.
    pub fn config(&self) -> &ModelConfig {
        self.decoder.config()
    }

    /// The device the backbone lives on.
    pub fn device(&self) -> &candle_core::Device {
        self.label_rows.device()
    }

    /// Number of label tokens (classes).
    pub fn classes(&self) -> usize {
        self.label_rows.dims()[0]
    }

    /// The same backbone in `dtype` (f64 for finite differences).
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        Ok(Self {
            decoder: self.decoder.to_dtype(dtype)?,
            label_rows: self.label_rows.to_dtype(dtype)?,
        })
    }

    /// Weights of the blocks' projections (the parameters a token's
    /// forward multiplies by).
    pub fn projection_params(&self) -> u64 {
        let c = self.config();
        let per_block: usize = Target::ALL
            .iter()
            .map(|&t| {
                let (i, o) = target_shape(c, t);
                i * o
            })
            .sum();
        (per_block * c.num_layers) as u64
    }

    /// Estimated FLOPs of a forward over `rows` sequences padded to `seq`
    /// tokens: every padded position counts. Per token, two per weight of
    /// every projection and adapter, the attention's two `seq`-long
    /// products per head, and 40 per residual and MLP value for norms,
    /// rotary embeddings, activations and residual adds; per row, the
    /// readout.
    pub fn forward_flops(&self, spec: &LoraSpec, rows: usize, seq: usize) -> u64 {
        let c = self.config();
        let r = u64::from(spec.rank);
        let adapters: u64 = spec
            .targets
            .iter()
            .map(|&t| {
                let (i, o) = target_shape(c, t);
                2 * r * (i + o) as u64
            })
            .sum::<u64>()
            * spec.layers.len() as u64;
        let layers = c.num_layers as u64;
        let attention = 4 * seq as u64 * (c.num_heads * c.head_dim) as u64 * layers;
        let elementwise = 40 * (c.hidden_size + c.intermediate_size) as u64 * layers;
        let per_token = 2 * self.projection_params() + adapters + attention + elementwise;
        let tokens = (rows as u64).saturating_mul(seq as u64);
        let readout = rows as u64 * (2 * c.hidden_size as u64 + 5) * self.classes() as u64;
        tokens.saturating_mul(per_token).saturating_add(readout)
    }

    /// Estimated FLOPs of a train step: three forwards (the backward
    /// propagates through every frozen block above the lowest adapter)
    /// and about 12 per trainable parameter for the update.
    pub fn train_step_flops(&self, spec: &LoraSpec, rows: usize, seq: usize) -> u64 {
        let params = spec.param_count(self.config(), self.classes());
        self.forward_flops(spec, rows, seq)
            .saturating_mul(3)
            .saturating_add(12 * params)
    }

    /// Bytes of activations a tracked forward over `rows x seq` tokens
    /// keeps alive for its backward (an estimate: each block keeps about
    /// ten residual-width and four MLP-width values per token, and its
    /// attention probabilities).
    pub fn activation_bytes(&self, rows: usize, seq: usize) -> u64 {
        let c = self.config();
        let per_token = 10 * c.hidden_size + 4 * c.intermediate_size + 2 * c.num_heads * seq;
        (rows as u64)
            .saturating_mul(seq as u64)
            .saturating_mul((per_token * c.num_layers) as u64)
            .saturating_mul(4)
    }
}

/// Loading the backbone a bundle's `[lm]` section names, here with the
/// backbone.
impl LmSection {
    /// Loads the backbone from `model_dir` (default: [`LmSection::path`])
    /// on `device`, with [`LmSection::tokenizer`] where the build was given
    /// one, after checking that every file hash matches
    /// `model_files` exactly: another model, or a changed file, is refused
    /// naming the first file that differs.
    pub fn load_backbone(
        &self,
        model_dir: Option<&Path>,
        device: &candle_core::Device,
    ) -> Result<Backbone> {
        let dir = model_dir.unwrap_or_else(|| Path::new(&self.path));
        let bad = |problem: String| TrainError::Bundle {
            dir: dir.to_path_buf(),
            problem,
        };
        let tokenizer = self.tokenizer.as_deref().map(Path::new);
        let model = w2s_lm::ModelDir::open_with(dir, tokenizer, self.max_seq_len as usize)
            .map_err(|e| bad(format!("strong model: {e}")))?;
        for (name, want) in &self.model_files {
            match model.file_hashes.get(name) {
                None => return Err(bad(format!("strong model: {name} is missing"))),
                Some(got) if got != want => {
                    return Err(bad(format!(
                        "strong model: sha256 mismatch for {name}: the task says {want}, the file has {got}"
                    )));
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = model
            .file_hashes
            .keys()
            .find(|k| !self.model_files.contains_key(*k))
        {
            return Err(bad(format!(
                "strong model: {extra} is not one of the task's model files"
            )));
        }
        let layers = model.config.num_layers;
        let decoder = model
            .decoder(layers, device)
            .map_err(|e| bad(format!("strong model: {e}")))?;
        let rows = decoder
            .output_rows(model.weights(), &self.label_token_ids)
            .map_err(|e| bad(format!("strong model: {e}")))?;
        Backbone::new(decoder, rows)
    }
}

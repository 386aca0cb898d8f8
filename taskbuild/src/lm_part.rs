//! The `[lm]` part of a bundle: what an `lm-lora` student needs. Every
//! bundle built from a model gets it: the strong model's name, path and
//! file hashes, the label tokens (one per class: the class name after a
//! space, or the bare name, whichever the strong tokenizer makes one
//! token), the tokenized pool (public) and test split (held out), and the
//! ceiling recipe.

use std::path::Path;

use w2s_lm::ModelDir;
use w2s_lm::lora::Target;
use w2s_train::lora::Readout;
use w2s_train::lora_recipe::LoraRecipe;
use w2s_train::lora_tokens::{LmSection, TokenSet};

use crate::dataset::{Dataset, Example};
use crate::error::{BuildError, Result};

/// The `[lm]` section and the two token sets.
pub(crate) struct LmPart {
    pub(crate) section: LmSection,
    pub(crate) pool: TokenSet,
    pub(crate) test: TokenSet,
}

/// The label token of `class`: `" {class}"` if it is one token, else
/// `"{class}"` if that is, else an error naming the class.
fn label_token(model: &ModelDir, class: &str) -> Result<(u32, String)> {
    for text in [format!(" {class}"), class.to_owned()] {
        if let Some(id) = model.tokenizer.single_token(&text)? {
            return Ok((id, text));
        }
    }
    Err(BuildError::invalid(
        "label token",
        format!(
            "class {class:?} is more than one token for the strong model's tokenizer (with or without a leading space); the label-token readout needs one token per class"
        ),
    ))
}

fn tokenize(model: &ModelDir, examples: &[Example]) -> Result<Vec<Vec<u32>>> {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    Ok(model
        .tokenizer
        .encode_all(&texts)?
        .iter()
        .map(|e| e.get_ids().to_vec())
        .collect())
}

/// The token width of both token files and the guest's `max-seq-len`:
/// the longest pool row (1 for an empty pool).
fn public_max_len(pool_ids: &[Vec<u32>]) -> usize {
    pool_ids.iter().map(Vec::len).max().unwrap_or(1).max(1)
}

/// `examples` tokenized as for the pool, then any row longer than
/// `max_len` tokenized again truncated from the left to `max_len` tokens
/// (special tokens kept, as the tokenizer truncates to `--max-tokens`).
fn tokenize_within(
    model: &ModelDir,
    examples: &[Example],
    max_len: usize,
) -> Result<Vec<Vec<u32>>> {
    let mut ids = tokenize(model, examples)?;
    let long: Vec<usize> = (0..ids.len()).filter(|&i| ids[i].len() > max_len).collect();
    if long.is_empty() {
        return Ok(ids);
    }
    // The model's own tokenizer, truncating shorter: a GGUF's is rebuilt
    // from its metadata, so there may be no tokenizer.json to open again.
    let short = model.tokenizer.truncated_to(max_len)?;
    let texts: Vec<&str> = long.iter().map(|&i| examples[i].text.as_str()).collect();
    for (i, e) in long.iter().zip(short.encode_all(&texts)?) {
        ids[*i] = e.get_ids().to_vec();
    }
    Ok(ids)
}

/// Parses `key=value,...` over the AAR's vanilla recipe: `rank`, `alpha`,
/// `rslora`, `lr`, `batch`, `epochs`, `warmup`, `head` (`true` for the
/// linear-head readout).
pub fn parse_recipe(text: &str, num_layers: usize) -> Result<LoraRecipe> {
    let mut r = LoraRecipe::aar_vanilla(num_layers);
    let bad = |k: &str, v: &str| {
        BuildError::invalid("lora ceiling", format!("`{k}={v}` is not a valid setting"))
    };
    let mut alpha = None;
    for kv in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            BuildError::invalid("lora ceiling", format!("`{kv}` is not key=value"))
        })?;
        match k {
            "rank" => r.spec.rank = v.parse().map_err(|_| bad(k, v))?,
            "alpha" => alpha = Some(v.parse().map_err(|_| bad(k, v))?),
            "rslora" => r.spec.rslora = v.parse().map_err(|_| bad(k, v))?,
            "lr" => r.lr = v.parse().map_err(|_| bad(k, v))?,
            "batch" => r.batch = v.parse().map_err(|_| bad(k, v))?,
            "epochs" => r.epochs = v.parse().map_err(|_| bad(k, v))?,
            "warmup" => r.warmup = v.parse().map_err(|_| bad(k, v))?,
            "head" => {
                let head: bool = v.parse().map_err(|_| bad(k, v))?;
                r.spec.readout = if head {
                    Readout::LinearHead
                } else {
                    Readout::LabelTokens
                };
            }
            _ => {
                return Err(BuildError::invalid(
                    "lora ceiling",
                    format!(
                        "unknown key `{k}` (rank, alpha, rslora, lr, batch, epochs, warmup, head)"
                    ),
                ));
            }
        }
    }
    r.spec.alpha = alpha.unwrap_or(r.spec.rank as f32);
    r.spec.targets = Target::ALL.to_vec();
    if r.spec.rank == 0
        || r.batch == 0
        || r.epochs == 0
        || !(r.lr > 0.0 && r.lr.is_finite())
        || !(0.0..=1.0).contains(&r.warmup)
    {
        return Err(BuildError::invalid(
            "lora ceiling",
            "rank, batch, epochs and lr must be positive, warmup in [0, 1]",
        ));
    }
    Ok(r)
}

/// Builds the `[lm]` part for the strong model `model` (directory or
/// GGUF `dir`, with the `tokenizer.json` given for it, if any) over the
/// dataset's pool and test split.
pub(crate) fn lm_part(
    model: &ModelDir,
    (dir, tokenizer): (&Path, Option<&Path>),
    name: &str,
    data: &Dataset,
    ceiling: &Option<String>,
) -> Result<LmPart> {
    let (class_names, pool, test) = (&data.class_names, &data.pool, &data.test);
    let mut ids = Vec::with_capacity(class_names.len());
    let mut texts = Vec::with_capacity(class_names.len());
    for class in class_names {
        let (id, text) = label_token(model, class)?;
        ids.push(id);
        texts.push(text);
    }
    let pool_ids = tokenize(model, pool)?;
    // Public data only: the guest reads `max_seq_len` (`lm.model()`), so
    // the longest *pool* row sets it, never a test row (issue 18). A test
    // row longer than that is truncated from the left to it, the same rule
    // as `--max-tokens`.
    let max_len = public_max_len(&pool_ids);
    let test_ids = tokenize_within(model, test, max_len)?;
    let path = std::fs::canonicalize(dir).map_err(|e| BuildError::io(dir, e))?;
    let tokenizer = tokenizer
        .map(|t| std::fs::canonicalize(t).map_err(|e| BuildError::io(t, e)))
        .transpose()?
        .map(|t| t.display().to_string());
    let layers = model.config.num_layers;
    let ceiling = match ceiling {
        Some(text) => parse_recipe(text, layers)?,
        None => LoraRecipe::aar_vanilla(layers),
    };
    Ok(LmPart {
        section: LmSection {
            model: name.to_owned(),
            path: path.display().to_string(),
            model_files: model.file_hashes.clone(),
            label_token_ids: ids,
            label_tokens: texts,
            max_seq_len: max_len as u32,
            tokenizer,
            ceiling,
        },
        pool: TokenSet::from_sequences(&pool_ids, max_len)?,
        test: TokenSet::from_sequences(&test_ids, max_len)?,
    })
}

//! The weight files of a model directory, memory-mapped and hashed.
//!
//! Every `*.safetensors` file in the directory is mapped read-only and its
//! sha256 computed once (the hashes go into a task's provenance and key the
//! activation cache). Tensors are looked up by name across the files, so a
//! single `model.safetensors` and a sharded checkpoint
//! (`model-00001-of-00002.safetensors`, ...) read the same way. Any stored
//! float type (f32, bf16, f16) is converted to f32 on load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::safetensors::Load;
use candle_core::{DType, Device, Tensor};

use crate::error::{LmError, Result};
use crate::gguf::GgufFile;
use crate::mapped::{map_file, sha256_of};

struct MappedWeights {
    name: String,
    map: memmap2::Mmap,
}

/// Where the tensors come from.
enum Store {
    Safetensors {
        files: Vec<MappedWeights>,
        /// Tensor name -> index into `files`.
        index: BTreeMap<String, usize>,
    },
    Gguf(Box<GgufFile>),
}

/// The mapped weight files of one model directory, or one GGUF file.
pub struct WeightFiles {
    /// The model directory, or the GGUF file.
    dir: PathBuf,
    store: Store,
    /// File name -> sha256 (lowercase hex).
    hashes: BTreeMap<String, String>,
}

impl WeightFiles {
    /// Maps and hashes every `*.safetensors` file of `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let entries = std::fs::read_dir(dir).map_err(|e| LmError::io(dir, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| LmError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".safetensors") {
                names.push(name);
            }
        }
        names.sort();
        if names.is_empty() {
            return Err(weights_err(dir, "no *.safetensors file in the directory"));
        }
        let mut files = Vec::new();
        let mut index = BTreeMap::new();
        let mut hashes = BTreeMap::new();
        for (i, name) in names.into_iter().enumerate() {
            let path = dir.join(&name);
            let map = map_file(&path)?;
            hashes.insert(name.clone(), sha256_of(&path, &map));
            let st = safetensors::SafeTensors::deserialize(&map)
                .map_err(|e| weights_err(dir, format!("{name} is not valid safetensors: {e}")))?;
            for tensor in st.names() {
                if let Some(other) = index.insert(tensor.to_owned(), i) {
                    let other: &MappedWeights = &files[other];
                    return Err(weights_err(
                        dir,
                        format!("tensor {tensor} is in both {} and {name}", other.name),
                    ));
                }
            }
            files.push(MappedWeights { name, map });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            store: Store::Safetensors { files, index },
            hashes,
        })
    }

    /// Serves the tensors of an opened GGUF file under their Hugging Face
    /// names; its one hash is keyed by the file name.
    pub fn from_gguf(gguf: GgufFile) -> Self {
        let name = gguf.path().file_name().map_or_else(
            || gguf.path().display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let hashes = BTreeMap::from([(name, gguf.sha256().to_owned())]);
        Self {
            dir: gguf.path().to_path_buf(),
            store: Store::Gguf(Box::new(gguf)),
            hashes,
        }
    }

    /// The GGUF file behind these weights, if they come from one.
    pub fn gguf(&self) -> Option<&GgufFile> {
        match &self.store {
            Store::Gguf(g) => Some(g.as_ref()),
            Store::Safetensors { .. } => None,
        }
    }

    /// sha256 of each weight file, by file name.
    pub fn hashes(&self) -> &BTreeMap<String, String> {
        &self.hashes
    }

    /// Whether a tensor of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        match &self.store {
            Store::Safetensors { index, .. } => index.contains_key(name),
            Store::Gguf(g) => g.contains(name),
        }
    }

    /// The tensor `name` as f32 on `device`, checked to have `shape`.
    pub fn load(&self, name: &str, shape: &[usize], device: &Device) -> Result<Tensor> {
        let (files, index) = match &self.store {
            Store::Safetensors { files, index } => (files, index),
            Store::Gguf(g) => return g.load(name, shape, device),
        };
        let &i = index
            .get(name)
            .ok_or_else(|| weights_err(&self.dir, format!("no tensor named {name}")))?;
        let file = &files[i];
        let st = safetensors::SafeTensors::deserialize(&file.map)
            .map_err(|e| weights_err(&self.dir, format!("{}: {e}", file.name)))?;
        let view = st
            .tensor(name)
            .map_err(|e| weights_err(&self.dir, format!("{name}: {e}")))?;
        if view.shape() != shape {
            return Err(weights_err(
                &self.dir,
                format!(
                    "{name} has shape {:?}; config.json implies {shape:?}",
                    view.shape()
                ),
            ));
        }
        use safetensors::Dtype as S;
        if !matches!(view.dtype(), S::F32 | S::BF16 | S::F16) {
            return Err(weights_err(
                &self.dir,
                format!(
                    "{name} has dtype {:?}; expected f32, bf16 or f16",
                    view.dtype()
                ),
            ));
        }
        let tensor = view.load(device)?;
        Ok(tensor.to_dtype(DType::F32)?)
    }

    /// The directory (or the GGUF file).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Drops the mapped pages this process has read from the weight files
    /// from its resident memory (they are read again from the file if a
    /// tensor is loaded again). A loaded model holds its own `f32` copy of
    /// every tensor, so without this its peak resident memory would count
    /// the bytes of each tensor twice. Called after loading; never needed
    /// for correctness.
    pub fn release_pages(&self) {
        match &self.store {
            Store::Safetensors { files, .. } => files.iter().for_each(|f| release(&f.map)),
            Store::Gguf(g) => release(g.map()),
        }
    }
}

/// `madvise(MADV_DONTNEED)` on a whole read-only map (a hint: a failure
/// only leaves the pages resident).
#[cfg(unix)]
fn release(map: &memmap2::Mmap) {
    // SAFETY: the map is read-only and private and this process never
    // writes it, so dropping its pages changes no byte that a live `&[u8]`
    // into it can see: the next read faults the same bytes in from the file
    // (the file changing underneath is the case `open` already discusses).
    #[allow(unsafe_code)]
    let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
}

/// Elsewhere the pages stay resident.
#[cfg(not(unix))]
fn release(_: &memmap2::Mmap) {}

pub(crate) fn weights_err(dir: &Path, problem: impl Into<String>) -> LmError {
    LmError::Weights {
        dir: dir.to_path_buf(),
        problem: problem.into(),
    }
}

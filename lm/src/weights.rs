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
use sha2::{Digest, Sha256};

use crate::error::{LmError, Result};

struct MappedWeights {
    name: String,
    map: memmap2::Mmap,
}

/// The mapped weight files of one model directory.
pub struct WeightFiles {
    dir: PathBuf,
    files: Vec<MappedWeights>,
    /// Tensor name -> index into `files`.
    index: BTreeMap<String, usize>,
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
            let file = std::fs::File::open(&path).map_err(|e| LmError::io(&path, e))?;
            // SAFETY: the map is read-only and private to this process. A
            // file changed underneath us could change what we read, but
            // never the memory safety of safe code reading a `&[u8]` that
            // stays mapped; model directories are inputs we do not write.
            #[allow(unsafe_code)]
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| LmError::io(&path, e))?;
            // Hashed through reads, not the map: the page cache is not this
            // process's resident memory, a mapped page read once would be.
            let mut hasher = Sha256::new();
            std::io::copy(&mut &file, &mut hasher).map_err(|e| LmError::io(&path, e))?;
            hashes.insert(name.clone(), hex::encode(hasher.finalize()));
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
            files,
            index,
            hashes,
        })
    }

    /// sha256 of each weight file, by file name.
    pub fn hashes(&self) -> &BTreeMap<String, String> {
        &self.hashes
    }

    /// Whether a tensor of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The tensor `name` as f32 on `device`, checked to have `shape`.
    pub fn load(&self, name: &str, shape: &[usize], device: &Device) -> Result<Tensor> {
        let &i = self
            .index
            .get(name)
            .ok_or_else(|| weights_err(&self.dir, format!("no tensor named {name}")))?;
        let file = &self.files[i];
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

    /// The directory.
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
        for file in &self.files {
            release(&file.map);
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

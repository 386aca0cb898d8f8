//! The GGUF header: metadata and tensor infos, read with bounds checks
//! that name the offset and the key or tensor being read.
//!
//! candle's `gguf_file::Content::read` stops at the first tensor of a type
//! it does not know, without naming the tensor, and a truncated file reads
//! as "failed to fill whole buffer". This reader keeps the raw type id of
//! every tensor (so an unsupported type is refused by name, only when the
//! tensor is needed) and checks every tensor's data range against the
//! file size up front, so a truncated file is refused before anything is
//! loaded. Values are candle's [`Value`], so tests write files with
//! `gguf_file::write`.

use std::collections::BTreeMap;

use candle_core::quantized::GgmlDType;
use candle_core::quantized::gguf_file::Value;

/// Why a header could not be read: the byte offset and what was read there.
pub(crate) type HeaderError = String;

/// Longest string and array, and the deepest nesting, a header may hold
/// (llama.cpp's caps): a corrupt length must not become a huge allocation.
const MAX_LEN: u64 = 1 << 30;
const MAX_DEPTH: usize = 8;
/// GGML's most tensor dimensions.
const MAX_DIMS: u32 = 4;
/// `general.alignment` when the file does not set it.
const DEFAULT_ALIGNMENT: u64 = 32;

/// One tensor's entry in the header.
#[derive(Debug, Clone)]
pub(crate) struct TensorEntry {
    /// GGML type id as stored.
    pub(crate) type_id: u32,
    /// Dimensions in row-major (candle / PyTorch) order: the file stores
    /// them innermost first.
    pub(crate) shape: Vec<usize>,
    /// Offset of the data from the start of the data section.
    pub(crate) offset: u64,
}

/// A parsed header.
#[derive(Debug)]
pub(crate) struct Header {
    /// Metadata by key.
    pub(crate) metadata: BTreeMap<String, Value>,
    /// Tensor entries by name.
    pub(crate) tensors: BTreeMap<String, TensorEntry>,
    /// Where the data section starts in the file.
    pub(crate) data_offset: u64,
}

/// The name of a GGML type id, e.g. `Q4_1` or `IQ2_XXS` (ggml.h's
/// `ggml_type`), or `type N` for an id ggml does not define.
pub(crate) fn type_name(id: u32) -> String {
    const NAMES: [(u32, &str); 32] = [
        (0, "F32"),
        (1, "F16"),
        (2, "Q4_0"),
        (3, "Q4_1"),
        (6, "Q5_0"),
        (7, "Q5_1"),
        (8, "Q8_0"),
        (9, "Q8_1"),
        (10, "Q2_K"),
        (11, "Q3_K"),
        (12, "Q4_K"),
        (13, "Q5_K"),
        (14, "Q6_K"),
        (15, "Q8_K"),
        (16, "IQ2_XXS"),
        (17, "IQ2_XS"),
        (18, "IQ3_XXS"),
        (19, "IQ1_S"),
        (20, "IQ4_NL"),
        (21, "IQ3_S"),
        (22, "IQ2_S"),
        (23, "IQ4_XS"),
        (24, "I8"),
        (25, "I16"),
        (26, "I32"),
        (27, "I64"),
        (28, "F64"),
        (29, "IQ1_M"),
        (30, "BF16"),
        (34, "TQ1_0"),
        (35, "TQ2_0"),
        (39, "MXFP4"),
    ];
    NAMES
        .iter()
        .find(|(i, _)| *i == id)
        .map_or_else(|| format!("type {id}"), |(_, n)| (*n).to_owned())
}

/// The candle type of a GGML type id this crate dequantizes: the float
/// types, the legacy 4/5/8-bit quants and the K-quants (Q8_1 and Q8_K are
/// llama.cpp's activation types and never hold weights).
pub(crate) fn supported_type(id: u32) -> Option<GgmlDType> {
    Some(match id {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        30 => GgmlDType::BF16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        10 => GgmlDType::Q2K,
        11 => GgmlDType::Q3K,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        _ => return None,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Lengths are u32 in GGUF v1, u64 after.
    wide: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], HeaderError> {
        let end = (self.pos as u64)
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len() as u64);
        let Some(end) = end else {
            return Err(format!(
                "offset {}: {what} needs {n} bytes, the file ends at {} (truncated?)",
                self.pos,
                self.bytes.len()
            ));
        };
        let out = &self.bytes[self.pos..end as usize];
        self.pos = end as usize;
        Ok(out)
    }

    fn fixed<const N: usize>(&mut self, what: &str) -> Result<[u8; N], HeaderError> {
        let b = self.take(N as u64, what)?;
        Ok(b.try_into().expect("take returns N bytes"))
    }

    fn u32(&mut self, what: &str) -> Result<u32, HeaderError> {
        Ok(u32::from_le_bytes(self.fixed(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, HeaderError> {
        Ok(u64::from_le_bytes(self.fixed(what)?))
    }

    fn length(&mut self, what: &str) -> Result<u64, HeaderError> {
        let at = self.pos;
        let n = if self.wide {
            self.u64(what)?
        } else {
            u64::from(self.u32(what)?)
        };
        if n > MAX_LEN {
            return Err(format!(
                "offset {at}: {what} has length {n}, over {MAX_LEN} (corrupt?)"
            ));
        }
        Ok(n)
    }

    fn string(&mut self, what: &str) -> Result<String, HeaderError> {
        let n = self.length(what)?;
        let at = self.pos;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| format!("offset {at}: {what} is not UTF-8"))
    }

    fn value(&mut self, kind: u32, key: &str, depth: usize) -> Result<Value, HeaderError> {
        let what = &format!("metadata {key}");
        Ok(match kind {
            0 => Value::U8(self.fixed::<1>(what)?[0]),
            1 => Value::I8(i8::from_le_bytes(self.fixed(what)?)),
            2 => Value::U16(u16::from_le_bytes(self.fixed(what)?)),
            3 => Value::I16(i16::from_le_bytes(self.fixed(what)?)),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(i32::from_le_bytes(self.fixed(what)?)),
            6 => Value::F32(f32::from_le_bytes(self.fixed(what)?)),
            7 => Value::Bool(self.fixed::<1>(what)?[0] != 0),
            8 => Value::String(self.string(what)?),
            9 if depth < MAX_DEPTH => {
                let elem = self.u32(what)?;
                let n = self.length(what)?;
                // Every element takes at least one byte: a count past the
                // end of the file is corrupt, not a reason to allocate.
                if n > (self.bytes.len() - self.pos) as u64 {
                    return Err(format!(
                        "offset {}: {what} claims {n} elements, more than the file's remaining bytes (truncated?)",
                        self.pos
                    ));
                }
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(elem, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(i64::from_le_bytes(self.fixed(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.fixed(what)?)),
            9 => {
                return Err(format!(
                    "offset {}: {what} nests arrays deeper than {MAX_DEPTH}",
                    self.pos
                ));
            }
            other => {
                return Err(format!(
                    "offset {}: {what} has value type {other}, not a GGUF type (corrupt?)",
                    self.pos
                ));
            }
        })
    }
}

/// Reads the header of a GGUF file's bytes and checks that every tensor's
/// data lies inside them.
pub(crate) fn read(bytes: &[u8]) -> Result<Header, HeaderError> {
    let mut r = Reader {
        bytes,
        pos: 0,
        wide: true,
    };
    let magic = r.fixed::<4>("the magic number")?;
    if &magic != b"GGUF" {
        return Err(format!(
            "offset 0: not a GGUF file (magic {magic:02x?}, expected \"GGUF\")"
        ));
    }
    let version = r.u32("the version")?;
    match version {
        1 => r.wide = false,
        2 | 3 => {}
        v => {
            return Err(format!(
                "offset 4: GGUF version {v} is not supported (1, 2, 3)"
            ));
        }
    }
    let n_tensors = r.length("the tensor count")?;
    let n_kv = r.length("the metadata count")?;
    let mut metadata = BTreeMap::new();
    for i in 0..n_kv {
        let key = r.string(&format!("metadata key {i}"))?;
        let kind = r.u32(&format!("metadata {key}"))?;
        let value = r.value(kind, &key, 0)?;
        metadata.insert(key, value);
    }
    let mut tensors = BTreeMap::new();
    for i in 0..n_tensors {
        let name = r.string(&format!("tensor name {i}"))?;
        let what = format!("tensor {name}");
        let at = r.pos;
        let n_dims = r.u32(&what)?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(format!(
                "offset {at}: {what} has {n_dims} dimensions (1 to {MAX_DIMS})"
            ));
        }
        let mut shape = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            let d = if r.wide {
                r.u64(&what)?
            } else {
                u64::from(r.u32(&what)?)
            };
            shape.push(usize::try_from(d).map_err(|_| format!("{what}: dimension {d} too large"))?);
        }
        shape.reverse();
        let type_id = r.u32(&what)?;
        let offset = r.u64(&what)?;
        tensors.insert(
            name,
            TensorEntry {
                type_id,
                shape,
                offset,
            },
        );
    }
    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.to_u32() {
            Ok(a) if a > 0 && a.is_power_of_two() => u64::from(a),
            _ => return Err(format!("general.alignment = {v:?} is not a power of two")),
        },
    };
    let data_offset = (r.pos as u64).div_ceil(alignment) * alignment;
    for (name, t) in &tensors {
        let (start, end) = data_range(t, data_offset).map_err(|e| format!("tensor {name}: {e}"))?;
        if end > bytes.len() as u64 {
            return Err(format!(
                "tensor {name} ({}) needs bytes {start}..{end}, the file ends at {} (truncated?)",
                type_name(t.type_id),
                bytes.len()
            ));
        }
    }
    Ok(Header {
        metadata,
        tensors,
        data_offset,
    })
}

/// The byte range of a tensor's data in the file. Types this crate cannot
/// dequantize have no known size: their range is checked when loaded
/// (where they are refused by name).
pub(crate) fn data_range(t: &TensorEntry, data_offset: u64) -> Result<(u64, u64), String> {
    let start = data_offset.saturating_add(t.offset);
    let Some(dtype) = supported_type(t.type_id) else {
        return Ok((start, start));
    };
    let elems = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let Some(elems) = elems else {
        return Err(format!("shape {:?} overflows", t.shape));
    };
    if elems % dtype.block_size() != 0 {
        return Err(format!(
            "{} elements are not a whole number of {} blocks ({})",
            elems,
            type_name(t.type_id),
            dtype.block_size()
        ));
    }
    let size = (elems / dtype.block_size()) as u64 * dtype.type_size() as u64;
    Ok((start, start.saturating_add(size)))
}

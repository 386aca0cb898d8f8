//! Host tensors with autograd: the `tensor` interface.
//!
//! A [`Tensor`] is a handle to f32 values in host memory; every operation
//! returns a new tensor (and a new handle, charged to the run's tensor
//! memory until dropped). Tensors that come from [`crate::Student::forward`]
//! carry gradients back to the student's parameters, so a loss built from
//! them can be passed to [`crate::Student::backward_step`].
//!
//! Scalars (losses, [`Tensor::sum_all`]) are rank-0 tensors; read one with
//! [`Tensor::item`]. Softmax, log-softmax and the losses work over the last
//! dimension and average over the rest. Every shape mismatch is an
//! [`Error`] with [`crate::ErrorCode::InvalidArgument`].
//!
//! ```no_run
//! # use w2s_guest_sdk::{Tensor, Error};
//! # fn demo(logits: &Tensor, targets: &Tensor) -> Result<Tensor, Error> {
//! // Soft cross-entropy with an entropy bonus.
//! let ce = Tensor::soft_cross_entropy(logits, targets)?;
//! let bonus = Tensor::entropy(logits)?.scale(0.1)?;
//! &ce - &bonus
//! # }
//! ```

use std::ops::{Add, Div, Mul, Sub};

use crate::bindings::w2s::strategy::tensor as wit;
use crate::error::{Error, ErrorCode};

pub use wit::{BinaryOp, CompareOp, ReduceOp, UnaryOp};

/// A tensor in host memory. Dropping it frees the host side.
#[derive(Debug)]
pub struct Tensor {
    handle: wit::Tensor,
}

fn u32s(shape: &[usize]) -> Result<Vec<u32>, Error> {
    shape
        .iter()
        .map(|&d| {
            u32::try_from(d).map_err(|_| Error::new(ErrorCode::InvalidArgument, "shape too large"))
        })
        .collect()
}

impl Tensor {
    pub(crate) fn from_handle(handle: wit::Tensor) -> Self {
        Self { handle }
    }

    pub(crate) fn handle(&self) -> &wit::Tensor {
        &self.handle
    }

    /// A tensor of `shape` from row-major `values` (their count must be the
    /// shape's product; `&[]` makes a scalar from one value).
    pub fn from_slice(values: &[f32], shape: &[usize]) -> Result<Self, Error> {
        Ok(Self::from_handle(wit::Tensor::from_list(
            values,
            &u32s(shape)?,
        )?))
    }

    /// A rank-0 tensor.
    pub fn scalar(value: f32) -> Result<Self, Error> {
        Self::from_slice(&[value], &[])
    }

    /// A tensor of `shape` filled with `value`.
    pub fn full(value: f32, shape: &[usize]) -> Result<Self, Error> {
        Ok(Self::from_handle(wit::Tensor::full(value, &u32s(shape)?)?))
    }

    /// The shape (`[]` for a scalar).
    pub fn shape(&self) -> Vec<usize> {
        self.handle
            .shape()
            .into_iter()
            .map(|d| d as usize)
            .collect()
    }

    /// The values, row-major.
    pub fn to_vec(&self) -> Result<Vec<f32>, Error> {
        Ok(self.handle.to_list()?)
    }

    /// The value of a one-element tensor (a loss).
    pub fn item(&self) -> Result<f32, Error> {
        match self.to_vec()?.as_slice() {
            [v] => Ok(*v),
            _ => Err(Error::new(ErrorCode::InvalidArgument, "not a scalar")),
        }
    }

    /// Matrix product `(m, k) x (k, n)`.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.matmul(&other.handle)?))
    }

    /// Elementwise `op(self, other)` with broadcasting.
    pub fn binary(&self, op: BinaryOp, other: &Tensor) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.binary(op, &other.handle)?))
    }

    /// Elementwise `op(self)`.
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.unary(op)?))
    }

    /// `exp(self)`.
    pub fn exp(&self) -> Result<Tensor, Error> {
        self.unary(UnaryOp::Exp)
    }

    /// `ln(self)`.
    pub fn log(&self) -> Result<Tensor, Error> {
        self.unary(UnaryOp::Log)
    }

    /// `max(self, 0)`.
    pub fn relu(&self) -> Result<Tensor, Error> {
        self.unary(UnaryOp::Relu)
    }

    /// `1 / (1 + exp(-self))`.
    pub fn sigmoid(&self) -> Result<Tensor, Error> {
        self.unary(UnaryOp::Sigmoid)
    }

    /// `tanh(self)`.
    pub fn tanh(&self) -> Result<Tensor, Error> {
        self.unary(UnaryOp::Tanh)
    }

    /// `self * mul + add`.
    pub fn affine(&self, mul: f32, add: f32) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.affine(mul, add)?))
    }

    /// `self * factor`.
    pub fn scale(&self, factor: f32) -> Result<Tensor, Error> {
        self.affine(factor, 0.0)
    }

    /// `min(max(self, min), max)`.
    pub fn clamp(&self, min: f32, max: f32) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.clamp(min, max)?))
    }

    /// Softmax over the last dimension.
    pub fn softmax(&self) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.softmax()?))
    }

    /// Log-softmax over the last dimension.
    pub fn log_softmax(&self) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.log_softmax()?))
    }

    /// Reduce over `dim`, keeping it with size 1 when `keepdim`.
    pub fn reduce(&self, op: ReduceOp, dim: usize, keepdim: bool) -> Result<Tensor, Error> {
        Ok(Self::from_handle(
            self.handle.reduce(op, dim as u32, keepdim)?,
        ))
    }

    /// Sum over `dim` (removed).
    pub fn sum(&self, dim: usize) -> Result<Tensor, Error> {
        self.reduce(ReduceOp::Sum, dim, false)
    }

    /// Mean over `dim` (removed).
    pub fn mean(&self, dim: usize) -> Result<Tensor, Error> {
        self.reduce(ReduceOp::Mean, dim, false)
    }

    /// Maximum over `dim` (removed).
    pub fn max(&self, dim: usize) -> Result<Tensor, Error> {
        self.reduce(ReduceOp::Max, dim, false)
    }

    /// The sum of all values, a scalar.
    pub fn sum_all(&self) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.sum_all()?))
    }

    /// The mean of all values, a scalar.
    pub fn mean_all(&self) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.mean_all()?))
    }

    /// Index of the largest value over `dim` (removed), as f32. No gradient.
    pub fn argmax(&self, dim: usize) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.argmax(dim as u32)?))
    }

    /// The `k` largest values over the last dimension and their indices.
    pub fn top_k(&self, k: usize) -> Result<(Tensor, Tensor), Error> {
        let k = u32::try_from(k).map_err(|_| Error::new(ErrorCode::InvalidArgument, "k"))?;
        let (v, i) = self.handle.top_k(k)?;
        Ok((Self::from_handle(v), Self::from_handle(i)))
    }

    /// The `q`-quantile over the last dimension (removed), numpy's linear
    /// interpolation.
    pub fn quantile(&self, q: f32) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.quantile(q)?))
    }

    /// torch.gather along `dim` with integer-valued f32 `index`.
    pub fn gather(&self, dim: usize, index: &Tensor) -> Result<Tensor, Error> {
        Ok(Self::from_handle(
            self.handle.gather(dim as u32, &index.handle)?,
        ))
    }

    /// The slices `indices` of `dim`.
    pub fn index_select(&self, dim: usize, indices: &[u32]) -> Result<Tensor, Error> {
        Ok(Self::from_handle(
            self.handle.index_select(dim as u32, indices)?,
        ))
    }

    /// `len` positions of `dim` from `start`.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.narrow(
            dim as u32,
            start as u32,
            len as u32,
        )?))
    }

    /// Swap two dimensions.
    pub fn transpose(&self, dim0: usize, dim1: usize) -> Result<Tensor, Error> {
        Ok(Self::from_handle(
            self.handle.transpose(dim0 as u32, dim1 as u32)?,
        ))
    }

    /// The same values in another shape.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.reshape(&u32s(shape)?)?))
    }

    /// The same values with no gradient (stop-gradient).
    pub fn detach(&self) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.detach()?))
    }

    /// A 0/1 mask `op(self, other)` with broadcasting.
    pub fn compare(&self, op: CompareOp, other: &Tensor) -> Result<Tensor, Error> {
        Ok(Self::from_handle(self.handle.compare(op, &other.handle)?))
    }

    /// Where `self` (a mask) is non-zero, `on_true`, else `on_false`.
    pub fn select(&self, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor, Error> {
        Ok(Self::from_handle(
            self.handle.select(&on_true.handle, &on_false.handle)?,
        ))
    }

    /// Join tensors along `dim`.
    pub fn concat(parts: &[&Tensor], dim: usize) -> Result<Tensor, Error> {
        let handles: Vec<&wit::Tensor> = parts.iter().map(|t| &t.handle).collect();
        Ok(Self::from_handle(wit::Tensor::concat(
            &handles, dim as u32,
        )?))
    }

    /// Mean over rows of `-sum targets * log softmax(logits)`, a scalar.
    pub fn soft_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor, Error> {
        Ok(Self::from_handle(wit::soft_cross_entropy(
            &logits.handle,
            &targets.handle,
        )?))
    }

    /// Mean over rows of `KL(targets || softmax(logits))`, a scalar.
    pub fn kl_divergence(targets: &Tensor, logits: &Tensor) -> Result<Tensor, Error> {
        Ok(Self::from_handle(wit::kl_divergence(
            &targets.handle,
            &logits.handle,
        )?))
    }

    /// Mean over rows of `KL(softmax(logits) || targets)`, a scalar.
    pub fn reverse_kl_divergence(logits: &Tensor, targets: &Tensor) -> Result<Tensor, Error> {
        Ok(Self::from_handle(wit::reverse_kl_divergence(
            &logits.handle,
            &targets.handle,
        )?))
    }

    /// Mean over rows of the entropy of `softmax(logits)`, a scalar.
    pub fn entropy(logits: &Tensor) -> Result<Tensor, Error> {
        Ok(Self::from_handle(wit::entropy(&logits.handle)?))
    }
}

macro_rules! binary_operator {
    ($trait:ident, $method:ident, $op:ident) => {
        impl $trait<&Tensor> for &Tensor {
            type Output = Result<Tensor, Error>;

            fn $method(self, rhs: &Tensor) -> Self::Output {
                self.binary(BinaryOp::$op, rhs)
            }
        }
    };
}

binary_operator!(Add, add, Add);
binary_operator!(Sub, sub, Sub);
binary_operator!(Mul, mul, Mul);
binary_operator!(Div, div, Div);

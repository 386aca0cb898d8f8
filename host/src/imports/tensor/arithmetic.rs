//! Arithmetic: `matmul`, and the elementwise ops (`unary`, `affine`,
//! `clamp`, `binary`, `compare`, `select`), whose inputs broadcast
//! together ([`broadcast_plan`]).

use candle_core::{DType, Tensor};
use serde_json::json;
use wasmtime::component::Resource;

use super::TensorEntry;
use super::op::{Graph, Plan, bad, broadcast_plan, same};
use crate::imports::WitResult;
use crate::imports::bindings::w2s::strategy::tensor as wt;
use crate::state::HostState;

const MATMUL: &str = "w2s:strategy/tensor.[method]tensor.matmul";
const BINARY: &str = "w2s:strategy/tensor.[method]tensor.binary";
const UNARY: &str = "w2s:strategy/tensor.[method]tensor.unary";
const AFFINE: &str = "w2s:strategy/tensor.[method]tensor.affine";
const CLAMP: &str = "w2s:strategy/tensor.[method]tensor.clamp";
const COMPARE: &str = "w2s:strategy/tensor.[method]tensor.compare";
const SELECT: &str = "w2s:strategy/tensor.[method]tensor.select";

impl HostState {
    pub(super) fn matmul_inner(
        &mut self,
        this: Resource<TensorEntry>,
        other: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = |a: &Tensor, b: &Tensor| match (a.dims(), b.dims()) {
            ([m, k], [k2, n]) if k == k2 => Ok(Plan {
                elems: m * n,
                flops: 2 * (*m as u64) * (*k as u64) * (*n as u64),
            }),
            (x, y) => Err(bad(format!(
                "matmul needs (m, k) x (k, n), got {x:?} x {y:?}"
            ))),
        };
        self.op2(
            MATMUL,
            &this,
            &other,
            Graph::default(),
            Vec::new(),
            plan,
            |a, b| a.matmul(b),
        )
    }

    pub(super) fn binary_inner(
        &mut self,
        this: Resource<TensorEntry>,
        op: wt::BinaryOp,
        other: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = |a: &Tensor, b: &Tensor| broadcast_plan(a.shape(), &[b.shape()]);
        let args = vec![("op", json!(format!("{op:?}")))];
        self.op2(
            BINARY,
            &this,
            &other,
            Graph::default(),
            args,
            plan,
            move |a, b| match op {
                wt::BinaryOp::Add => a.broadcast_add(b),
                wt::BinaryOp::Sub => a.broadcast_sub(b),
                wt::BinaryOp::Mul => a.broadcast_mul(b),
                wt::BinaryOp::Div => a.broadcast_div(b),
                wt::BinaryOp::Maximum => a.broadcast_maximum(b),
                wt::BinaryOp::Minimum => a.broadcast_minimum(b),
            },
        )
    }

    pub(super) fn unary_inner(
        &mut self,
        this: Resource<TensorEntry>,
        op: wt::UnaryOp,
    ) -> WitResult<Resource<TensorEntry>> {
        let args = vec![("op", json!(format!("{op:?}")))];
        self.op1(
            UNARY,
            &this,
            args,
            |t| same(t, 2),
            move |t| match op {
                wt::UnaryOp::Exp => t.exp(),
                wt::UnaryOp::Log => t.log(),
                wt::UnaryOp::Relu => t.relu(),
                // 1 / (1 + exp(-x)), from ops that all have a backward.
                wt::UnaryOp::Sigmoid => (t.neg()?.exp()? + 1.0)?.recip(),
                wt::UnaryOp::Tanh => t.tanh(),
                wt::UnaryOp::Neg => t.neg(),
                wt::UnaryOp::Abs => t.abs(),
                wt::UnaryOp::Sqrt => t.sqrt(),
                wt::UnaryOp::Square => t.sqr(),
            },
        )
    }

    pub(super) fn affine_inner(
        &mut self,
        this: Resource<TensorEntry>,
        mul: f32,
        add: f32,
    ) -> WitResult<Resource<TensorEntry>> {
        let args = vec![("mul", json!(mul)), ("add", json!(add))];
        self.op1(
            AFFINE,
            &this,
            args,
            |t| same(t, 2),
            move |t| t.affine(f64::from(mul), f64::from(add)),
        )
    }

    pub(super) fn clamp_inner(
        &mut self,
        this: Resource<TensorEntry>,
        min: f32,
        max: f32,
    ) -> WitResult<Resource<TensorEntry>> {
        let args = vec![("min", json!(min)), ("max", json!(max))];
        let plan = move |t: &Tensor| {
            // NaN bounds are refused too.
            if min.is_nan() || max.is_nan() || min > max {
                return Err(bad("`clamp` needs min <= max"));
            }
            same(t, 2)
        };
        self.op1(CLAMP, &this, args, plan, move |t| {
            t.clamp(f64::from(min), f64::from(max))
        })
    }

    pub(super) fn compare_inner(
        &mut self,
        this: Resource<TensorEntry>,
        op: wt::CompareOp,
        other: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = |a: &Tensor, b: &Tensor| broadcast_plan(a.shape(), &[b.shape()]);
        let args = vec![("op", json!(format!("{op:?}")))];
        self.op2(
            COMPARE,
            &this,
            &other,
            Graph::default(),
            args,
            plan,
            move |a, b| {
                let (a, b) = (a.detach(), b.detach());
                match op {
                    wt::CompareOp::Gt => a.broadcast_gt(&b),
                    wt::CompareOp::Ge => a.broadcast_ge(&b),
                    wt::CompareOp::Lt => a.broadcast_lt(&b),
                    wt::CompareOp::Le => a.broadcast_le(&b),
                    wt::CompareOp::Eq => a.broadcast_eq(&b),
                }?
                .to_dtype(DType::F32)
            },
        )
    }

    pub(super) fn select_inner(
        &mut self,
        this: Resource<TensorEntry>,
        on_true: Resource<TensorEntry>,
        on_false: Resource<TensorEntry>,
    ) -> WitResult<Resource<TensorEntry>> {
        let (f, gf) = {
            let e = self.tensor(&on_false)?;
            (e.t.clone(), Graph::of(e))
        };
        let plan = |m: &Tensor, t: &Tensor| broadcast_plan(m.shape(), &[t.shape(), f.shape()]);
        let f2 = f.clone();
        self.op2(
            SELECT,
            &this,
            &on_true,
            gf,
            Vec::new(),
            plan,
            move |m, t| {
                let shape = m
                    .shape()
                    .broadcast_shape_binary_op(t.shape(), "select")?
                    .broadcast_shape_binary_op(f2.shape(), "select")?;
                let cond = m.detach().ne(0f32)?.broadcast_as(&shape)?.contiguous()?;
                let t = t.broadcast_as(&shape)?.contiguous()?;
                let f = f2.broadcast_as(&shape)?.contiguous()?;
                cond.where_cond(&t, &f)
            },
        )
    }
}

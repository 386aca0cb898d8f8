//! Tensors in and out of the guest: `from-list`, `full`, `shape`,
//! `to-list`, and dropping a handle.

use candle_core::{Device, Tensor};
use serde_json::json;
use wasmtime::component::Resource;

use super::TensorEntry;
use super::op::{Graph, Plan, bad, guest_shape};
use crate::error::HostTrap;
use crate::imports::WitResult;
use crate::imports::gate::{Deadline, list};
use crate::state::HostState;

const FROM_LIST: &str = "w2s:strategy/tensor.[static]tensor.from-list";
const FULL: &str = "w2s:strategy/tensor.[static]tensor.full";
const SHAPE: &str = "w2s:strategy/tensor.[method]tensor.shape";
const TO_LIST: &str = "w2s:strategy/tensor.[method]tensor.to-list";
const DROP: &str = "w2s:strategy/tensor.[resource-drop]tensor";

impl HostState {
    /// Charges and registers a new tensor of `n` values that `make` builds
    /// on the task's device: one FLOP a value, no graph.
    fn create(
        &mut self,
        n: usize,
        make: impl FnOnce(&Device) -> candle_core::Result<Tensor>,
    ) -> WitResult<Resource<TensorEntry>> {
        let plan = Plan {
            elems: n,
            flops: n as u64,
        };
        let device = self.task.features.device().clone();
        self.finish(plan, Graph::default(), || make(&device))
    }

    pub(super) fn new_from_list_inner(
        &mut self,
        values: Vec<f32>,
        shape: Vec<u32>,
    ) -> WitResult<Resource<TensorEntry>> {
        let n = values.len();
        let shape_arg = json!(shape);
        let args = || vec![("values", list(n)), ("shape", shape_arg)];
        self.audited(FROM_LIST, Deadline::Check, args, |s| {
            let max = s.policy.host().max_elements_per_call;
            let dims = match guest_shape(&shape, max, "per call") {
                Ok(d) => d,
                Err(e) => return Ok(Err(e)),
            };
            if dims.iter().product::<usize>() != n {
                return Ok(Err(bad(format!(
                    "`values` has {n} values, the shape {shape:?} needs {}",
                    dims.iter().product::<usize>()
                ))));
            }
            s.create(n, |device| Tensor::from_vec(values, dims, device))
        })
    }

    pub(super) fn full_inner(
        &mut self,
        value: f32,
        shape: Vec<u32>,
    ) -> WitResult<Resource<TensorEntry>> {
        let args = || vec![("shape", json!(shape))];
        self.audited(FULL, Deadline::Check, args, |s| {
            let max = s.policy.host().tensor_bytes / 4;
            let dims = match guest_shape(&shape, max, "of tensor memory") {
                Ok(d) => d,
                Err(e) => return Ok(Err(e)),
            };
            let n = dims.iter().product::<usize>();
            s.create(n, |device| Tensor::full(value, dims, device))
        })
    }

    pub(super) fn shape_inner(
        &mut self,
        this: Resource<TensorEntry>,
    ) -> wasmtime::Result<Vec<u32>> {
        self.audited(SHAPE, Deadline::Check, Vec::new, |s| {
            let t = &s.tensor(&this)?.t;
            Ok(t.dims().iter().map(|&d| d as u32).collect())
        })
    }

    pub(super) fn read_list_inner(&mut self, this: Resource<TensorEntry>) -> WitResult<Vec<f32>> {
        self.audited(TO_LIST, Deadline::Check, Vec::new, |s| {
            let t = s.tensor(&this)?.t.clone();
            if let Err(e) = s.check_elements("tensor", t.elem_count(), 1) {
                return Ok(Err(e));
            }
            s.meters.charge_flops(t.elem_count() as u64)?;
            let v = t
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|_| HostTrap::Internal { what: "to-list" })?;
            Ok(Ok(v))
        })
    }

    pub(super) fn drop_inner(&mut self, rep: Resource<TensorEntry>) -> wasmtime::Result<()> {
        self.audited(DROP, Deadline::Skip, Vec::new, |s| {
            let entry = s.table.delete(rep)?;
            s.meters.free_tensor(entry.bytes);
            s.meters.close_handle();
            Ok(())
        })
    }
}

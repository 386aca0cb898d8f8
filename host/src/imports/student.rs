//! `w2s:strategy/student`: students (optimizers are in
//! [`crate::imports::optimizer`]).
//!
//! Each student gets a run-unique id; an optimizer binds to the id of the
//! first student it updates. Student parameters are charged to tensor
//! memory when the student is created and released when the guest drops
//! the handle.

use candle_core::Tensor;
use w2s_train::lora::LoraStudent;
use w2s_train::{Arch, Head};
use wasmtime::component::Resource;

use serde_json::json;

use crate::audit::Args;
use crate::error::HostTrap;
use crate::imports::bindings::w2s::strategy::student;
use crate::imports::gate::{Deadline, list, matrix};
use crate::imports::optimizer::OptimizerEntry;
use crate::imports::tensor::TensorEntry;
use crate::imports::{WitResult, arch_from_wit, arch_to_wit, refusal, wit};
use crate::limits::allows;
use crate::state::{HostState, Live};

/// A student in the resource table. `pub` only because the generated
/// bindings re-export it; the module is private.
#[allow(unreachable_pub)]
pub struct StudentEntry {
    pub(crate) id: u64,
    pub(crate) model: StudentModel,
    /// Variables of the current parameters, from the first tracked
    /// `forward` since they last changed (see `imports::autograd`).
    pub(crate) vars: Option<Vec<candle_core::Var>>,
    /// Tensor memory charged for the parameters.
    pub(crate) bytes: u64,
    pub(crate) _live: Live,
}

/// What a student is: a head over the frozen features, or the strong
/// language model with adapters (`w2s:strategy/lm`).
#[derive(Debug, Clone)]
pub(crate) enum StudentModel {
    /// A linear or MLP head.
    Head(Head),
    /// An `lm-lora` student.
    Lora(LoraStudent),
}

impl StudentEntry {
    /// The model, once the entry has left the table.
    pub(crate) fn into_model(self) -> StudentModel {
        self.model
    }

    /// The head; a trap for an `lm-lora` student (every caller branches
    /// to the `lm-lora` code first).
    pub(crate) fn head(&self) -> Result<&Head, HostTrap> {
        match &self.model {
            StudentModel::Head(h) => Ok(h),
            StudentModel::Lora(_) => Err(HostTrap::Internal { what: "head" }),
        }
    }

    /// [`StudentEntry::head`], mutably.
    pub(crate) fn head_mut(&mut self) -> Result<&mut Head, HostTrap> {
        match &mut self.model {
            StudentModel::Head(h) => Ok(h),
            StudentModel::Lora(_) => Err(HostTrap::Internal { what: "head" }),
        }
    }

    /// The `lm-lora` student, if this is one.
    pub(crate) fn lora(&self) -> Option<&LoraStudent> {
        match &self.model {
            StudentModel::Lora(l) => Some(l),
            StudentModel::Head(_) => None,
        }
    }
}

fn to_vec(t: candle_core::Result<Tensor>, what: &'static str) -> Result<Vec<f32>, HostTrap> {
    t.and_then(|t| t.flatten_all()?.to_vec1::<f32>())
        .map_err(|_| HostTrap::Internal { what })
}

impl HostState {
    pub(crate) fn dims(&self) -> (usize, usize) {
        (self.task.feature_dim(), self.task.classes())
    }

    /// Charges compute, a handle and tensor memory for a new student of
    /// `arch`, then builds it with `make` and registers it.
    fn add_student(
        &mut self,
        arch: Arch,
        make: impl FnOnce(&Self) -> Option<Head>,
    ) -> wasmtime::Result<Resource<StudentEntry>> {
        let (in_dim, classes) = self.dims();
        let params = arch.param_count(in_dim, classes);
        // Drawing or copying weights: about one operation per parameter.
        self.meters.charge_flops(params)?;
        self.meters.open_handle()?;
        let bytes = params * 4;
        self.meters.alloc_tensor(bytes)?;
        let head = StudentModel::Head(make(self).ok_or(HostTrap::Internal { what: "student" })?);
        let id = self.next_student_id;
        self.next_student_id += 1;
        let _live = self.live.guard();
        Ok(self.table.push(StudentEntry {
            id,
            model: head,
            vars: None,
            bytes,
            _live,
        })?)
    }

    /// Refuses a call whose transient tensors (the gathered features, the
    /// hidden activations) would need more than `tensor_bytes`: a long
    /// index list times a wide feature row is host memory that nothing
    /// else bounds. The guest can split the batch.
    pub(crate) fn check_call_size(&self, rows: usize, arch: Arch) -> Result<(), wit::Error> {
        let (in_dim, classes) = self.dims();
        let width = in_dim.max(arch.hidden_dim(in_dim)).max(classes);
        self.check_elements("indices", rows, width)?;
        let width = width as u64;
        let bytes = (rows as u64).saturating_mul(width).saturating_mul(4);
        let limit = self.policy.host().tensor_bytes;
        if bytes > limit {
            return Err(refusal(
                wit::ErrorCode::InvalidArgument,
                format!(
                    "`indices`: {rows} rows of width {width} need {bytes} bytes in one call, over the limit of {limit}"
                ),
            ));
        }
        Ok(())
    }

    /// Shared by `predict` and `hidden`: validates, charges a forward
    /// pass, gathers the features and applies `f`.
    fn forward(
        &mut self,
        this: &Resource<StudentEntry>,
        indices: &[u32],
        what: &'static str,
        f: impl FnOnce(&Head, &Tensor) -> w2s_train::Result<Tensor>,
    ) -> WitResult<Vec<f32>> {
        if let Err(e) = self.check_indices(indices) {
            return Ok(Err(e));
        }
        if indices.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let (in_dim, classes) = self.dims();
        if self.table.get(this)?.lora().is_some() {
            return self.lora_rows(this, indices, what);
        }
        let arch = self.table.get(this)?.head()?.arch();
        if let Err(e) = self.check_call_size(indices.len(), arch) {
            return Ok(Err(e));
        }
        // `hidden` costs at most a forward pass; it is charged as one.
        self.meters
            .charge_flops(arch.forward_flops(indices.len(), in_dim, classes))?;
        let x = self
            .task
            .rows(indices)
            .map_err(|_| HostTrap::Internal { what })?;
        let out = f(self.table.get(this)?.head()?, &x).map_err(|_| HostTrap::Internal { what })?;
        Ok(Ok(to_vec(Ok(out), what)?))
    }
}

impl student::Host for HostState {}

const CREATE: &str = "w2s:strategy/student.[static]student.create";
const DUPLICATE: &str = "w2s:strategy/student.[method]student.duplicate";
const ARCHITECTURE: &str = "w2s:strategy/student.[method]student.architecture";
const HIDDEN_DIM: &str = "w2s:strategy/student.[method]student.hidden-dim";
const PREDICT: &str = "w2s:strategy/student.[method]student.predict";
const HIDDEN: &str = "w2s:strategy/student.[method]student.hidden";
const TRAIN_STEP: &str = "w2s:strategy/student.[method]student.train-step";
const FORWARD: &str = "w2s:strategy/student.[method]student.forward";
const BACKWARD_STEP: &str = "w2s:strategy/student.[method]student.backward-step";
const REINIT: &str = "w2s:strategy/student.[method]student.reinit";
const PARAMETERS: &str = "w2s:strategy/student.[method]student.parameters";
const SET_PARAMETERS: &str = "w2s:strategy/student.[method]student.set-parameters";
const ADD_NOISE: &str = "w2s:strategy/student.[method]student.add-noise";
const DROP_STUDENT: &str = "w2s:strategy/student.[resource-drop]student";

fn arch_arg(arch: &wit::Arch) -> serde_json::Value {
    json!(arch_from_wit(*arch).describe())
}

impl student::HostStudent for HostState {
    fn create(&mut self, architecture: wit::Arch, seed: u64) -> WitResult<Resource<StudentEntry>> {
        let args = || {
            vec![
                ("architecture", arch_arg(&architecture)),
                ("seed", json!(seed)),
            ]
        };
        self.audited(CREATE, Deadline::Check, args, |s| {
            let arch = arch_from_wit(architecture);
            if arch == (Arch::Mlp { hidden: 0 }) {
                return Ok(Err(refusal(
                    wit::ErrorCode::InvalidArgument,
                    "`hidden` must be positive",
                )));
            }
            if !allows(&s.policy, arch) {
                return Ok(Err(refusal(
                    wit::ErrorCode::NotAllowed,
                    format!("architecture {} is not allowed", arch.describe()),
                )));
            }
            let (in_dim, classes) = s.dims();
            let student = s.add_student(arch, |s| {
                Head::init(arch, in_dim, classes, seed, s.task.features.device()).ok()
            })?;
            Ok(Ok(student))
        })
    }

    fn duplicate(&mut self, this: Resource<StudentEntry>) -> WitResult<Resource<StudentEntry>> {
        self.audited(DUPLICATE, Deadline::Check, Vec::new, |s| {
            if let Some(count) = s.table.get(&this)?.lora().map(|l| l.param_count()) {
                s.meters.charge_flops(count)?;
                let copy = s.table.get(&this)?.lora().cloned();
                let copy = copy.ok_or(HostTrap::Internal { what: "duplicate" })?;
                return Ok(Ok(s.add_lora_student(copy)?));
            }
            let arch = s.table.get(&this)?.head()?.arch();
            let copy = s.add_student(arch, |s| {
                s.table.get(&this).ok().and_then(|e| e.head().ok().cloned())
            })?;
            Ok(Ok(copy))
        })
    }

    fn architecture(&mut self, this: Resource<StudentEntry>) -> wasmtime::Result<wit::Arch> {
        self.audited(ARCHITECTURE, Deadline::Check, Vec::new, |s| {
            // The 0.1.0 variant cannot name `lm-lora` (see `w2s:strategy/lm`).
            match &s.table.get(&this)?.model {
                StudentModel::Head(h) => Ok(arch_to_wit(h.arch())),
                StudentModel::Lora(_) => Ok(wit::Arch::Linear),
            }
        })
    }

    fn hidden_dim(&mut self, this: Resource<StudentEntry>) -> wasmtime::Result<u32> {
        self.audited(HIDDEN_DIM, Deadline::Check, Vec::new, |s| {
            let dim = match &s.table.get(&this)?.model {
                StudentModel::Head(h) => h.arch().hidden_dim(s.task.feature_dim()),
                StudentModel::Lora(l) => l.backbone().config().hidden_size,
            };
            Ok(u32::try_from(dim).map_err(|_| HostTrap::Internal { what: "hidden-dim" })?)
        })
    }

    fn predict(&mut self, this: Resource<StudentEntry>, indices: Vec<u32>) -> WitResult<Vec<f32>> {
        let n = indices.len();
        self.audited(
            PREDICT,
            Deadline::Check,
            || vec![("indices", list(n))],
            |s| s.forward(&this, &indices, "predict", |h, x| h.predict(x)),
        )
    }

    fn hidden(&mut self, this: Resource<StudentEntry>, indices: Vec<u32>) -> WitResult<Vec<f32>> {
        let n = indices.len();
        self.audited(
            HIDDEN,
            Deadline::Check,
            || vec![("indices", list(n))],
            |s| {
                if !s.policy.students().read_hidden {
                    return Ok(Err(refusal(
                        wit::ErrorCode::NotAllowed,
                        "the policy does not allow reading hidden representations",
                    )));
                }
                s.forward(&this, &indices, "hidden", |h, x| h.hidden(x))
            },
        )
    }

    fn train_step(
        &mut self,
        this: Resource<StudentEntry>,
        opt: Resource<OptimizerEntry>,
        indices: Vec<u32>,
        targets: Vec<f32>,
        weights: Vec<f32>,
    ) -> WitResult<f32> {
        let classes = self.task.classes().max(1);
        let shapes: Args = vec![
            ("indices", list(indices.len())),
            ("targets", matrix(targets.len() / classes, classes)),
            ("weights", list(weights.len())),
        ];
        self.audited(
            TRAIN_STEP,
            Deadline::Check,
            || shapes,
            |s| s.train_step_inner(this, opt, indices, targets, weights),
        )
    }

    fn forward(
        &mut self,
        this: Resource<StudentEntry>,
        indices: Vec<u32>,
    ) -> WitResult<(Resource<TensorEntry>, Resource<TensorEntry>)> {
        let n = indices.len();
        self.audited(
            FORWARD,
            Deadline::Check,
            || vec![("indices", list(n))],
            |s| s.forward_inner(&this, &indices),
        )
    }

    fn backward_step(
        &mut self,
        this: Resource<StudentEntry>,
        loss: Resource<TensorEntry>,
        opt: Resource<OptimizerEntry>,
    ) -> WitResult<()> {
        self.audited(BACKWARD_STEP, Deadline::Check, Vec::new, |s| {
            s.backward_step_inner(&this, &loss, &opt)
        })
    }

    fn reinit(&mut self, this: Resource<StudentEntry>, seed: u64) -> WitResult<()> {
        self.audited(
            REINIT,
            Deadline::Check,
            || vec![("seed", json!(seed))],
            |s| s.reinit_inner(&this, seed),
        )
    }

    fn parameters(
        &mut self,
        this: Resource<StudentEntry>,
    ) -> WitResult<Vec<Resource<TensorEntry>>> {
        self.audited(PARAMETERS, Deadline::Check, Vec::new, |s| {
            s.parameters_inner(&this)
        })
    }

    fn set_parameters(
        &mut self,
        this: Resource<StudentEntry>,
        params: Vec<Resource<TensorEntry>>,
    ) -> WitResult<()> {
        let n = params.len();
        self.audited(
            SET_PARAMETERS,
            Deadline::Check,
            || vec![("params", list(n))],
            |s| s.set_parameters_inner(&this, &params),
        )
    }

    fn add_noise(&mut self, this: Resource<StudentEntry>, seed: u64, std: f32) -> WitResult<()> {
        self.audited(
            ADD_NOISE,
            Deadline::Check,
            || vec![("seed", json!(seed)), ("std", json!(std))],
            |s| s.add_noise_inner(&this, seed, std),
        )
    }

    fn drop(&mut self, rep: Resource<StudentEntry>) -> wasmtime::Result<()> {
        self.audited(DROP_STUDENT, Deadline::Skip, Vec::new, |s| {
            let entry = s.table.delete(rep)?;
            s.meters.free_tensor(entry.bytes);
            s.meters.close_handle();
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use student::{HostOptimizer, HostStudent};

    use super::*;
    use crate::imports::optimizer::adamw;
    use crate::state::test_support::{borrow, host_state, tiny_task};
    use w2s_policy::Policy;

    #[test]
    fn predict_returns_probability_rows() {
        let (mut s, _) = host_state(Policy::default(), tiny_task(8));
        let a = s.create(wit::Arch::Linear, 3).unwrap().unwrap();
        let p = s.predict(borrow(&a), vec![0, 5, 7]).unwrap().unwrap();
        assert_eq!(p.len(), 9);
        for row in p.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        assert!(s.predict(borrow(&a), vec![]).unwrap().unwrap().is_empty());
        let e = s.predict(borrow(&a), vec![8]).unwrap().unwrap_err();
        assert_eq!(e.code, wit::ErrorCode::InvalidArgument);
        assert_eq!(s.hidden_dim(borrow(&a)).unwrap(), 4);
    }

    #[test]
    fn train_step_binds_the_optimizer_and_reports_progress() {
        let (mut s, events) = host_state(Policy::default(), tiny_task(8));
        let a = s
            .create(wit::Arch::Mlp(wit::Mlp { hidden: 5 }), 3)
            .unwrap()
            .unwrap();
        let b = s.duplicate(borrow(&a)).unwrap().unwrap();
        let opt = HostOptimizer::new(&mut s, adamw(0.1)).unwrap();
        let (idx, t, w) = (
            vec![0, 1],
            vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            vec![1.0, 1.0],
        );
        let loss = s.train_step(borrow(&a), borrow(&opt), idx.clone(), t.clone(), w.clone());
        assert!(loss.unwrap().unwrap() > 0.0);
        assert_eq!(events.try_recv().unwrap().steps, 1);
        let e = s
            .train_step(borrow(&b), borrow(&opt), idx.clone(), t.clone(), w.clone())
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, wit::ErrorCode::WrongHandle);
        let e = s
            .train_step(borrow(&a), borrow(&opt), idx, t, vec![1.0])
            .unwrap()
            .unwrap_err();
        assert!(e.message.contains("weights"), "{}", e.message);
        // Parameters of two students and AdamW state for one.
        let params = Arch::Mlp { hidden: 5 }.param_count(4, 3);
        assert_eq!(s.meters.peak_tensor_bytes, 2 * params * 4 + 2 * params * 4);
        HostOptimizer::drop(&mut s, opt).unwrap();
        HostStudent::drop(&mut s, a).unwrap();
        HostStudent::drop(&mut s, b).unwrap();
        s.meters
            .alloc_tensor(Policy::default().host().tensor_bytes)
            .unwrap();
    }

    #[test]
    fn disallowed_and_degenerate_architectures_are_refused() {
        let (mut s, _) = host_state(Policy::default(), tiny_task(8));
        let e = s
            .create(wit::Arch::Mlp(wit::Mlp { hidden: 4097 }), 1)
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, wit::ErrorCode::NotAllowed);
        let e = s
            .create(wit::Arch::Mlp(wit::Mlp { hidden: 0 }), 1)
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, wit::ErrorCode::InvalidArgument);
    }

    #[test]
    fn wide_batches_are_refused_before_gathering() {
        // 64 rows of width 64 need 16 KiB of activations; parameters 2 KiB.
        let policy = Policy::from_toml_str("version = 1\n[host]\ntensor_bytes = 4096\n").unwrap();
        let (mut s, _) = host_state(policy, tiny_task(64));
        let a = s
            .create(wit::Arch::Mlp(wit::Mlp { hidden: 64 }), 1)
            .unwrap()
            .unwrap();
        let e = s
            .hidden(borrow(&a), (0..64).collect())
            .unwrap()
            .unwrap_err();
        assert!(e.message.contains("over the limit"), "{}", e.message);
        assert_eq!(s.meters.flops, Arch::Mlp { hidden: 64 }.param_count(4, 3));
        assert_eq!(
            s.hidden(borrow(&a), vec![0, 1]).unwrap().unwrap().len(),
            128
        );
    }

    fn policy(extra: &str) -> Policy {
        Policy::from_toml_str(&format!("version = 1\n{extra}")).unwrap()
    }

    #[test]
    fn hidden_is_not_allowed_when_the_policy_denies_it() {
        let (mut s, _) = host_state(policy("[students]\nread_hidden = false"), tiny_task(8));
        let a = s.create(wit::Arch::Linear, 3).unwrap().unwrap();
        let e = s.hidden(borrow(&a), vec![0]).unwrap().unwrap_err();
        assert_eq!(e.code, wit::ErrorCode::NotAllowed);
        assert!(s.predict(borrow(&a), vec![0]).unwrap().is_ok());
        assert_eq!(
            s.meters.flops,
            Arch::Linear.param_count(4, 3) + Arch::Linear.forward_flops(1, 4, 3)
        );
    }

    #[test]
    fn the_step_after_the_last_allowed_one_traps() {
        let (mut s, _) = host_state(policy("[host]\nmax_train_steps = 2"), tiny_task(8));
        let a = s.create(wit::Arch::Linear, 3).unwrap().unwrap();
        let opt = HostOptimizer::new(&mut s, adamw(0.1)).unwrap();
        let step = |s: &mut HostState| {
            s.train_step(
                borrow(&a),
                borrow(&opt),
                vec![0],
                vec![1.0, 0.0, 0.0],
                vec![1.0],
            )
        };
        step(&mut s).unwrap().unwrap();
        step(&mut s).unwrap().unwrap();
        let trap = step(&mut s).unwrap_err();
        assert_eq!(
            trap.downcast_ref::<HostTrap>(),
            Some(&HostTrap::StepLimit { limit: 2 })
        );
        assert_eq!(s.meters.train_steps, 2);
    }

    #[test]
    fn calls_over_the_element_cap_are_refused() {
        // 8 rows of width 4 (the features) is 32 values; the cap is 16.
        let p = policy("[host]\nmax_elements_per_call = 16\nmax_indices_per_call = 16");
        let (mut s, _) = host_state(p, tiny_task(8));
        let a = s.create(wit::Arch::Linear, 3).unwrap().unwrap();
        let e = s
            .predict(borrow(&a), (0..8).collect())
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, wit::ErrorCode::InvalidArgument);
        assert!(e.message.contains("over the limit of 16"), "{}", e.message);
        assert_eq!(
            s.predict(borrow(&a), (0..4).collect())
                .unwrap()
                .unwrap()
                .len(),
            12
        );
    }
}

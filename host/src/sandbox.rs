//! The engine, the linker, and loading (with validation) of components.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{Component, Linker, ResourceType};
use wasmtime::{Config, Engine, WasmBacktraceDetails};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;

use w2s_policy::{ImportCheck, Policy};

use crate::determinism::{ClockView, VirtualClocks};
use crate::error::{HostError, printable, truncate};
use crate::imports::bindings::LmStrategyPre as StrategyPre;
use crate::imports::student::StudentEntry;
use crate::limits::{EPOCH_TICK, MAX_WASM_STACK};
use crate::state::{HostState, LiveCount};

/// Frames kept in a wasm backtrace (wasmtime's default, set explicitly).
const MAX_BACKTRACE_FRAMES: NonZeroUsize = NonZeroUsize::new(20).unwrap();
/// Longest wasmtime explanation kept in a [`HostError`].
const MAX_REASON_BYTES: usize = 2048;
/// Longest import name quoted in a [`HostError`].
const MAX_IMPORT_NAME_BYTES: usize = 256;
/// The type the world gives `run`, for error messages.
const RUN_SIGNATURE: &str = "func(config: string) -> result<student, string>";

/// wasmtime's error chain on one line.
pub(crate) fn reason(err: &wasmtime::Error) -> String {
    let text = err
        .chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    truncate(
        printable(&text.replace(['\n', '\r'], " ")),
        MAX_REASON_BYTES,
    )
}

/// Increments the engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("w2s-epoch".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    engine.increment_epoch();
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        // Dropping the sender disconnects the channel: the thread stops
        // within one tick.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The sandbox: an engine with explicit limits, a linker with WASI 0.2
/// (nothing granted but stdout, stderr and, when the policy says so, the
/// scratch directory) and the w2s imports, and a ticker thread for
/// wall-clock deadlines. Build it once; load and run many strategies with
/// it.
pub struct Sandbox {
    pub(crate) engine: Engine,
    linker: Linker<HostState>,
    pub(crate) policy: Arc<Policy>,
    pub(crate) live: LiveCount,
    _ticker: EpochTicker,
}

/// A compiled, validated strategy component. Run it with the [`Sandbox`]
/// that loaded it.
pub struct Strategy {
    pub(crate) pre: StrategyPre<HostState>,
    sha256: String,
}

impl Strategy {
    /// sha256 of the component's bytes, lowercase hex.
    pub fn wasm_sha256(&self) -> &str {
        &self.sha256
    }

    /// The compiled component.
    pub fn component(&self) -> &Component {
        self.pre.instance_pre().component()
    }
}

fn engine_err(err: impl std::fmt::Display) -> HostError {
    HostError::Engine {
        reason: truncate(err.to_string(), MAX_REASON_BYTES),
    }
}

/// The engine configuration every sandbox (and the compiling process)
/// uses. It does not depend on the policy: limits are set per store.
fn engine_config() -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .wasm_backtrace_max_frames(Some(MAX_BACKTRACE_FRAMES))
        // Set explicitly: the default reads WASMTIME_BACKTRACE_DETAILS.
        .wasm_backtrace_details(WasmBacktraceDetails::Disable)
        .max_wasm_stack(MAX_WASM_STACK)
        // Synchronous host calls only; also makes them ~2.5x cheaper.
        .concurrency_support(false)
        // Bit-identical results across CPUs.
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true);
    config
}

/// A description of [`engine_config`] for the compiled-artifact cache key:
/// change it whenever `engine_config` changes.
pub(crate) const ENGINE_CONFIG_TAG: &str = "w2s-engine-v1:component,fuel,epochs,stack=1MiB,frames=20,no-details,no-concurrency,nan-canon,relaxed-simd-det";

/// A new engine with [`engine_config`].
pub(crate) fn new_engine() -> Result<Engine, HostError> {
    Engine::new(&engine_config()).map_err(|e| engine_err(reason(&e)))
}

impl Sandbox {
    /// A sandbox that enforces `policy`.
    pub fn new(policy: Policy) -> Result<Self, HostError> {
        let engine = new_engine()?;
        let mut linker = Linker::new(&engine);
        Self::link(&mut linker).map_err(|e| engine_err(reason(&e)))?;
        let ticker = EpochTicker::start(engine.clone()).map_err(engine_err)?;
        Ok(Self {
            engine,
            linker,
            policy: Arc::new(policy),
            live: LiveCount::default(),
            _ticker: ticker,
        })
    }

    /// Compiles a component with the sandbox's engine configuration and
    /// returns the serialized artifact, without a sandbox (no linker, no
    /// ticker). This is what the compiling process (`w2s compile`) runs.
    /// Checks the header first; the size cap is the caller's to check.
    pub fn precompile(wasm: &[u8]) -> Result<Vec<u8>, HostError> {
        check_header(wasm)?;
        let engine = new_engine()?;
        let component =
            Component::new(&engine, wasm).map_err(|e| HostError::Compile { reason: reason(&e) })?;
        component
            .serialize()
            .map_err(|e| HostError::Compile { reason: reason(&e) })
    }

    fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
        wasmtime_wasi::p2::add_to_linker_sync(linker)?;
        crate::imports::scratch_fs::add_to_linker(linker)?;
        // Replace wasmtime's monotonic clock with the virtual one: its
        // sleeps would block inside a host call (see `determinism`).
        linker.allow_shadowing(true);
        monotonic_clock::add_to_linker::<HostState, VirtualClocks>(linker, |s| ClockView {
            clock: &s.clock,
            table: &mut s.table,
        })?;
        linker.allow_shadowing(false);
        crate::imports::add_to_linker(linker)
    }

    /// The policy every run of this sandbox enforces.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Students and optimizers alive right now across all runs of this
    /// sandbox. Between runs it is 0: everything a run created is freed
    /// with its store.
    pub fn live_handles(&self) -> u64 {
        self.live.get()
    }

    /// The checks before compiling: the size cap, the wasm magic, and
    /// component (not core module) version bytes.
    pub fn preflight(&self, wasm: &[u8]) -> Result<(), HostError> {
        let bytes = wasm.len() as u64;
        let limit = self.policy.io().max_wasm_bytes;
        if bytes > limit {
            return Err(HostError::TooLarge { bytes, limit });
        }
        check_header(wasm)
    }

    /// Compiles (in this process) and validates a strategy component:
    /// [`Sandbox::preflight`], compilation, then
    /// [`Sandbox::load_compiled`]. `w2s eval` compiles in a child process
    /// instead, under the policy's compile limits.
    pub fn load(&self, wasm: &[u8]) -> Result<Strategy, HostError> {
        self.preflight(wasm)?;
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| HostError::Compile { reason: reason(&e) })?;
        self.load_compiled(component, hex::encode(Sha256::digest(wasm)))
    }

    /// Validates a compiled component whose wasm has sha256 `wasm_sha256`:
    /// every import is an interface the policy allows (checked by name,
    /// before the linker's own type check, so a denied one is named), the
    /// `run` export has the world's type, and the linker can satisfy every
    /// import.
    pub fn load_compiled(
        &self,
        component: Component,
        wasm_sha256: String,
    ) -> Result<Strategy, HostError> {
        for (name, item) in component.component_type().imports(&self.engine) {
            // A type import (`use student.{student}` in the world) is an
            // alias the linker resolves; every other import must be an
            // interface the policy allows.
            let check = match item.ty {
                ComponentItem::Type(_) | ComponentItem::Resource(_) => ImportCheck::Allowed,
                ComponentItem::ComponentInstance(_) => self.policy.imports().check(name),
                _ => ImportCheck::NotProvided,
            };
            if check != ImportCheck::Allowed {
                let import = truncate(printable(name), MAX_IMPORT_NAME_BYTES);
                let provided = check == ImportCheck::NotAllowed;
                return Err(HostError::ImportDenied { import, provided });
            }
        }
        let ty = self
            .linker
            .substituted_component_type(&component)
            .map_err(|e| HostError::ImportMismatch { reason: reason(&e) })?;
        match ty.get_export(&self.engine, "run").map(|e| e.ty) {
            None => return Err(HostError::MissingExport { export: "run" }),
            Some(ComponentItem::ComponentFunc(f)) if run_type_matches(&f) => {}
            Some(_) => {
                return Err(HostError::BadExport {
                    export: "run",
                    expected: RUN_SIGNATURE,
                });
            }
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| HostError::ImportMismatch { reason: reason(&e) })?;
        let pre = StrategyPre::new(pre).map_err(|_| HostError::BadExport {
            export: "run",
            expected: RUN_SIGNATURE,
        })?;
        Ok(Strategy {
            pre,
            sha256: wasm_sha256,
        })
    }
}

/// `func(config: string) -> result<own<student>, string>`, synchronous,
/// with the host's own student resource.
fn run_type_matches(f: &ComponentFunc) -> bool {
    let params: Vec<Type> = f.params().map(|(_, t)| t).collect();
    let results: Vec<Type> = f.results().collect();
    let [Type::String] = params.as_slice() else {
        return false;
    };
    let [Type::Result(r)] = results.as_slice() else {
        return false;
    };
    let student = ResourceType::host::<StudentEntry>();
    !f.async_() && r.ok() == Some(Type::Own(student)) && r.err() == Some(Type::String)
}

/// Checks the magic and the version bytes before compiling, to name the
/// usual mistakes.
fn check_header(wasm: &[u8]) -> Result<(), HostError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(HostError::NotWasm);
    }
    let version = [wasm[4], wasm[5], wasm[6], wasm[7]];
    match version {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => Err(HostError::CoreModule),
        _ => Err(HostError::UnknownVersion { version }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> Sandbox {
        Sandbox::new(Policy::default()).unwrap()
    }

    fn load_wat(s: &Sandbox, wat: &str) -> Result<Strategy, HostError> {
        s.load(&wat::parse_str(wat).unwrap())
    }

    #[test]
    fn garbage_is_not_wasm() {
        let s = sandbox();
        assert!(matches!(s.load(b"hello, world"), Err(HostError::NotWasm)));
        assert!(matches!(s.load(b""), Err(HostError::NotWasm)));
    }

    #[test]
    fn core_module_says_build_for_wasip2() {
        let err = load_wat(&sandbox(), "(module)").err().unwrap();
        assert!(matches!(err, HostError::CoreModule));
        let text = err.to_string();
        assert!(
            text.contains("core") && text.contains("wasm32-wasip2"),
            "{text}"
        );
    }

    #[test]
    fn size_is_checked_before_compiling() {
        let s = Sandbox::new(
            Policy::from_toml_str("version = 1\n[io]\nmax_wasm_bytes = 16\n").unwrap(),
        )
        .unwrap();
        let err = s.load(&[0u8; 17]).err().unwrap();
        assert!(matches!(
            err,
            HostError::TooLarge {
                bytes: 17,
                limit: 16
            }
        ));
    }

    #[test]
    fn empty_component_misses_run() {
        let err = load_wat(&sandbox(), "(component)").err().unwrap();
        assert!(
            matches!(err, HostError::MissingExport { export: "run" }),
            "{err}"
        );
        assert!(err.to_string().contains("`run`"));
    }

    #[test]
    fn unknown_interface_is_named() {
        let wat = r#"(component (import "evil:net/sockets@1.0.0" (instance)))"#;
        let err = load_wat(&sandbox(), wat).err().unwrap();
        match &err {
            HostError::ImportDenied { import, provided } => {
                assert_eq!(import, "evil:net/sockets@1.0.0");
                assert!(!provided);
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("evil:net/sockets@1.0.0"));
        assert_eq!(err.outcome().unwrap().code(), "import-denied");
    }

    #[test]
    fn root_function_and_unknown_resource_imports_are_refused() {
        let wat = r#"(component (import "launch" (func)))"#;
        match load_wat(&sandbox(), wat) {
            Err(HostError::ImportDenied { import, .. }) => assert_eq!(import, "launch"),
            other => panic!("{:?}", other.err()),
        }
        let wat = r#"(component (import "handle" (type (sub resource))))"#;
        let err = load_wat(&sandbox(), wat).err().unwrap();
        assert!(matches!(err, HostError::ImportMismatch { .. }), "{err}");
        assert!(err.to_string().contains("handle"), "{err}");
    }

    #[test]
    fn wrong_version_of_an_allowed_interface_is_forbidden() {
        let wat = r#"(component (import "w2s:strategy/task@9.0.0" (instance)))"#;
        assert!(matches!(
            load_wat(&sandbox(), wat),
            Err(HostError::ImportDenied { .. })
        ));
    }

    #[test]
    fn an_interface_outside_the_policy_is_denied_by_name() {
        let wat = r#"(component (import "wasi:sockets/tcp@0.2.6" (instance)))"#;
        let err = load_wat(&sandbox(), wat).err().unwrap();
        match &err {
            HostError::ImportDenied { import, provided } => {
                assert_eq!(import, "wasi:sockets/tcp@0.2.6");
                assert!(provided);
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("policy does not allow"), "{err}");
    }

    #[test]
    fn run_of_the_wrong_type_is_named() {
        let wat = r#"(component
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func (export "run") (canon lift (core func $i "f"))))"#;
        let err = load_wat(&sandbox(), wat).err().unwrap();
        assert!(
            matches!(err, HostError::BadExport { export: "run", .. }),
            "{err}"
        );
    }

    #[test]
    fn sandbox_and_strategy_can_be_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Sandbox>();
        shared::<Strategy>();
    }

    #[test]
    fn ticker_stops_when_the_sandbox_drops() {
        let s = sandbox();
        drop(s);
    }
}

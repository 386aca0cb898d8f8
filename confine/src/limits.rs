//! Resource limits: address space, core dumps, file size.

use rustix::process::{Resource, Rlimit, setrlimit};

use crate::{ConfineError, Plan};

/// Address space this process has mapped already, in bytes (Linux:
/// `/proc/self/statm`; 0 where that cannot be read).
pub fn mapped_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    pages * rustix::param::page_size() as u64
}

fn set(resource: Resource, name: &'static str, value: u64) -> Result<(), ConfineError> {
    let limit = Rlimit {
        current: Some(value),
        maximum: Some(value),
    };
    setrlimit(resource, limit).map_err(|e| ConfineError::Rlimit {
        limit: name,
        source: e.into(),
    })
}

/// Sets `RLIMIT_AS` (what is mapped now plus the plan's address space),
/// `RLIMIT_CORE` (0: a crash leaves no image of the process's memory) and
/// `RLIMIT_FSIZE` (the plan's file size). Hard limits too: nothing raises
/// them again.
pub fn apply(plan: &Plan) -> Result<(), ConfineError> {
    set(Resource::Core, "core", 0)?;
    set(Resource::Fsize, "fsize", plan.file_size_bytes)?;
    let total = mapped_bytes().saturating_add(plan.address_space_bytes);
    set(Resource::As, "as", total)
}

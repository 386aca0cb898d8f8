//! The last step of `w2s guest build`: the `sockets-deny` component plugged
//! into a componentize-py component (a wac composition), and the result's
//! imports checked against the default policy, so that a build never
//! produces a component `w2s eval` refuses. In the library, with the rest
//! of the submission stage, so that an embedder builds Python submissions
//! the way the binary does.

use w2s_policy::{ImportCheck, Policy};
use wac_graph::types::{ItemKind, Package};
use wac_graph::{CompositionGraph, EncodeOptions};

use crate::error::{EvalError, Result};

/// The error of a failed `step`, with what the library said (its whole
/// chain, where it has one).
fn failed<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> EvalError {
    move |e| EvalError::PythonComposition {
        step,
        detail: format!("{e:#}"),
    }
}

/// Plugs `stub`'s exports into `python`'s imports and checks that what is
/// left imports only interfaces the default policy allows.
pub fn plug_sockets_stub(python: &[u8], stub: &[u8]) -> Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let python = Package::from_bytes("w2s:python-strategy", None, python, graph.types_mut())
        .map_err(failed("componentize-py's output is not a component"))?;
    let stub = Package::from_bytes("w2s:sockets-deny", None, stub, graph.types_mut())
        .map_err(failed("the sockets stub is not a component"))?;
    let python = graph
        .register_package(python)
        .map_err(failed("cannot register the Python component"))?;
    let stub = graph
        .register_package(stub)
        .map_err(failed("cannot register the sockets stub"))?;
    wac_graph::plug(&mut graph, vec![stub], python)
        .map_err(failed("cannot plug the sockets stub"))?;
    let bytes = graph
        .encode(EncodeOptions::default())
        .map_err(failed("cannot encode the composition"))?;
    let mut check = CompositionGraph::new();
    let composed = Package::from_bytes("w2s:composed", None, bytes.clone(), check.types_mut())
        .map_err(failed("the composition is not a component"))?;
    let policy = Policy::default();
    for (name, kind) in &check.types()[composed.ty()].imports {
        // A type import (the world's `use student.{student}`) is an alias,
        // as the sandbox's own check says; every instance must be allowed.
        let allowed = match kind {
            ItemKind::Type(_) => true,
            _ => policy.imports().check(name) == ImportCheck::Allowed,
        };
        if !allowed {
            return Err(EvalError::PythonComposition {
                step: "the import check",
                detail: format!(
                    "the built component still imports {name}, which the default policy does not allow"
                ),
            });
        }
    }
    Ok(bytes)
}

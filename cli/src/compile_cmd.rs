//! The hidden `w2s compile`: the child process that compiles an untrusted
//! component under an address-space limit (see [`w2s_eval::compile`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use w2s_eval::compile::{EXIT_COMPILE_ERROR, compile_child};

/// Arguments of the hidden `w2s compile`.
#[derive(Args)]
pub(crate) struct CompileArgs {
    /// The component to compile.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the compiled artifact.
    #[arg(long)]
    output: PathBuf,
    /// Address-space limit of this process, in bytes.
    #[arg(long)]
    memory_bytes: u64,
}

/// The child: compile, write the artifact; a compile error is one line on
/// stderr and exit status [`EXIT_COMPILE_ERROR`].
pub(crate) fn compile(args: CompileArgs) -> Result<ExitCode> {
    match compile_child(&args.input, &args.output, args.memory_bytes)? {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(reason) => {
            eprintln!("{reason}");
            Ok(ExitCode::from(EXIT_COMPILE_ERROR))
        }
    }
}

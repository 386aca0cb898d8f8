//! A test-only entry into the confined runner (feature `breach-probe`):
//! `w2s-breach-probe --job PATH --secret PATH --port N [--unconfined]`.
//!
//! It confines itself exactly as `w2s-runner` does for the job (the same
//! [`w2s_runner::confine_for`]), unless `--unconfined`, then does what a
//! guest that broke out of wasmtime would try: read the task's held-out
//! part and the evaluator's secret, connect to a TCP port on 127.0.0.1,
//! start a process, and `execve` a program. It prints one line per attempt,
//! `NAME: ok` or `NAME: denied (ERROR)`; the `execve` attempt comes last
//! and, when it succeeds, the program it runs prints `execve: ok`.
//! `tests/all/confine.rs` runs it both ways: every attempt succeeds
//! unconfined and is denied confined, so the layer is what stops them.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use w2s_runner::job::Job;

struct Args {
    job: PathBuf,
    secret: PathBuf,
    port: u16,
    unconfined: bool,
}

fn args() -> Option<Args> {
    let mut it = std::env::args().skip(1);
    let (mut job, mut secret, mut port, mut unconfined) = (None, None, None, false);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--job" => job = Some(PathBuf::from(it.next()?)),
            "--secret" => secret = Some(PathBuf::from(it.next()?)),
            "--port" => port = it.next()?.parse().ok(),
            "--unconfined" => unconfined = true,
            _ => return None,
        }
    }
    Some(Args {
        job: job?,
        secret: secret?,
        port: port?,
        unconfined,
    })
}

fn report<T>(name: &str, attempt: std::io::Result<T>) {
    match attempt {
        Ok(_) => println!("{name}: ok"),
        Err(e) => println!("{name}: denied ({e})"),
    }
}

fn main() -> ExitCode {
    let Some(args) = args() else {
        eprintln!("usage: w2s-breach-probe --job PATH --secret PATH --port N [--unconfined]");
        return ExitCode::from(2);
    };
    let job = match Job::read(&args.job) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("w2s-breach-probe: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.unconfined {
        match w2s_runner::confine_for(&job) {
            Ok(applied) => println!("confined: {}", applied.missing().is_empty()),
            Err(e) => {
                eprintln!("w2s-breach-probe: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let heldout = job.task_dir.join(w2s_train::bundle::HELDOUT_TEST);
    report("read heldout", std::fs::read(&heldout));
    report("read secret", std::fs::read(&args.secret));
    report(
        "connect",
        std::net::TcpStream::connect(("127.0.0.1", args.port)),
    );
    report("spawn", Command::new("/bin/true").status());
    let _ = std::io::stdout().flush();
    let err = Command::new("/bin/echo").arg("execve: ok").exec();
    println!("execve: denied ({err})");
    ExitCode::SUCCESS
}

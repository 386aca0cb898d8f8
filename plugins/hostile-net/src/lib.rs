//! A hostile guest that tries the network, one attempt per `mode=` of the
//! config string (`arg=` is the address or host name). Its own crate
//! because `std::net` makes the component import `wasi:sockets`, which
//! the default policy denies at load time: with that policy this guest
//! never runs. With a policy that allows the socket interfaces, each
//! attempt must still fail, and the run ends with `Err("denied: ...")`
//! (`Err("LEAK: ...")` if one succeeded).

use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};

use w2s_guest_sdk::{Config, Strategy, StrategyError, Student};

/// The guest; the mode picks the attempt.
struct HostileNet;

impl Strategy for HostileNet {
    fn run(config: &str) -> Result<Student, StrategyError> {
        let mut c = Config::parse(config)?;
        let mode: String = c.take("mode")?.ok_or("no mode= in the config")?;
        let arg: String = c.take("arg")?.unwrap_or_default();
        c.finish()?;
        let attempt = match mode.as_str() {
            "tcp-connect" => TcpStream::connect(&arg).map(|s| format!("{s:?}")),
            "tcp-listen" => TcpListener::bind(&arg).map(|s| format!("{s:?}")),
            "udp-bind" => UdpSocket::bind(&arg).map(|s| format!("{s:?}")),
            "udp-send" => UdpSocket::bind("0.0.0.0:0")
                .and_then(|s| s.send_to(b"w2s", &arg))
                .map(|n| format!("sent {n}")),
            "dns" => (arg.as_str(), 80)
                .to_socket_addrs()
                .map(|a| format!("{:?}", a.collect::<Vec<_>>())),
            other => return Err(format!("unknown mode {other:?}").into()),
        };
        match attempt {
            Ok(v) => Err(format!("LEAK: {mode} succeeded: {v}").into()),
            Err(e) => Err(format!("denied: {mode}: {e}").into()),
        }
    }
}

w2s_guest_sdk::export_strategy!(HostileNet);

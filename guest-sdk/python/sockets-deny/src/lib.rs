//! The WASI 0.2 socket interfaces with every operation refused.
//!
//! componentize-py embeds CPython, whose wasi-libc links the socket
//! functions, so every Python component imports the seven `wasi:sockets`
//! interfaces, which the sandbox's default policy does not allow. `w2s guest
//! build` plugs this component into the Python one (a composition), so the
//! strategy it writes imports none of them. The refusal then happens inside
//! the guest's own sandbox: this component holds no capability to give.
//!
//! - `instance-network` hands out a network handle that nothing accepts;
//! - creating a TCP or UDP socket and resolving a name fail with
//!   `access-denied` (Python raises `PermissionError`);
//! - no socket or address stream can exist, so their methods are never
//!   reached: their types are uninhabited.

#![no_std]

extern crate alloc;

mod allocator;

use alloc::string::String;
use alloc::vec::Vec;

/// Bindings generated from `wit/world.wit`, and the export glue: the only
/// code that needs `unsafe`.
#[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "deny",
        generate_all,
    });

    use super::Denied;
    export!(Denied with_types_in crate::bindings);
}

use bindings::exports::wasi::sockets::{
    instance_network, ip_name_lookup, network, tcp, tcp_create_socket, udp, udp_create_socket,
};
use network::{ErrorCode, IpAddressFamily, IpSocketAddress, NetworkBorrow};

/// The exported interfaces.
struct Denied;

/// The one network handle: every operation on it is refused.
struct NoNetwork;

/// A socket or stream, which can never be created.
enum Never {}

impl network::Guest for Denied {
    type Network = NoNetwork;
}

impl network::GuestNetwork for NoNetwork {}

impl instance_network::Guest for Denied {
    fn instance_network() -> network::Network {
        network::Network::new(NoNetwork)
    }
}

/// What every refused operation answers (Python raises `PermissionError`).
const DENIED: ErrorCode = ErrorCode::AccessDenied;

impl ip_name_lookup::Guest for Denied {
    type ResolveAddressStream = Never;

    fn resolve_addresses(
        _network: NetworkBorrow<'_>,
        _name: String,
    ) -> Result<ip_name_lookup::ResolveAddressStream, ErrorCode> {
        Err(DENIED)
    }
}

impl tcp_create_socket::Guest for Denied {
    fn create_tcp_socket(_family: IpAddressFamily) -> Result<tcp::TcpSocket, ErrorCode> {
        Err(DENIED)
    }
}

impl udp_create_socket::Guest for Denied {
    fn create_udp_socket(_family: IpAddressFamily) -> Result<udp::UdpSocket, ErrorCode> {
        Err(DENIED)
    }
}

impl tcp::Guest for Denied {
    type TcpSocket = Never;
}

impl udp::Guest for Denied {
    type UdpSocket = Never;
    type IncomingDatagramStream = Never;
    type OutgoingDatagramStream = Never;
}

/// Methods of a resource that cannot exist: each body matches on the
/// uninhabited receiver.
macro_rules! unreachable_methods {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $name(&self, $($arg: $ty),*) -> $ret {
            $(let _ = $arg;)*
            match *self {}
        })*
    };
}

type Res<T> = Result<T, ErrorCode>;

impl ip_name_lookup::GuestResolveAddressStream for Never {
    unreachable_methods! {
        resolve_next_address() -> Res<Option<network::IpAddress>>;
        subscribe() -> ip_name_lookup::Pollable;
    }
}

impl tcp::GuestTcpSocket for Never {
    unreachable_methods! {
        start_bind(network: NetworkBorrow<'_>, local_address: IpSocketAddress) -> Res<()>;
        finish_bind() -> Res<()>;
        start_connect(network: NetworkBorrow<'_>, remote_address: IpSocketAddress) -> Res<()>;
        finish_connect() -> Res<(tcp::InputStream, tcp::OutputStream)>;
        start_listen() -> Res<()>;
        finish_listen() -> Res<()>;
        accept() -> Res<(tcp::TcpSocket, tcp::InputStream, tcp::OutputStream)>;
        local_address() -> Res<IpSocketAddress>;
        remote_address() -> Res<IpSocketAddress>;
        is_listening() -> bool;
        address_family() -> IpAddressFamily;
        set_listen_backlog_size(value: u64) -> Res<()>;
        keep_alive_enabled() -> Res<bool>;
        set_keep_alive_enabled(value: bool) -> Res<()>;
        keep_alive_idle_time() -> Res<tcp::Duration>;
        set_keep_alive_idle_time(value: tcp::Duration) -> Res<()>;
        keep_alive_interval() -> Res<tcp::Duration>;
        set_keep_alive_interval(value: tcp::Duration) -> Res<()>;
        keep_alive_count() -> Res<u32>;
        set_keep_alive_count(value: u32) -> Res<()>;
        hop_limit() -> Res<u8>;
        set_hop_limit(value: u8) -> Res<()>;
        receive_buffer_size() -> Res<u64>;
        set_receive_buffer_size(value: u64) -> Res<()>;
        send_buffer_size() -> Res<u64>;
        set_send_buffer_size(value: u64) -> Res<()>;
        subscribe() -> tcp::Pollable;
        shutdown(shutdown_type: tcp::ShutdownType) -> Res<()>;
    }
}

impl udp::GuestUdpSocket for Never {
    unreachable_methods! {
        start_bind(network: NetworkBorrow<'_>, local_address: IpSocketAddress) -> Res<()>;
        finish_bind() -> Res<()>;
        stream(remote_address: Option<IpSocketAddress>) -> Res<(udp::IncomingDatagramStream, udp::OutgoingDatagramStream)>;
        local_address() -> Res<IpSocketAddress>;
        remote_address() -> Res<IpSocketAddress>;
        address_family() -> IpAddressFamily;
        unicast_hop_limit() -> Res<u8>;
        set_unicast_hop_limit(value: u8) -> Res<()>;
        receive_buffer_size() -> Res<u64>;
        set_receive_buffer_size(value: u64) -> Res<()>;
        send_buffer_size() -> Res<u64>;
        set_send_buffer_size(value: u64) -> Res<()>;
        subscribe() -> udp::Pollable;
    }
}

impl udp::GuestIncomingDatagramStream for Never {
    unreachable_methods! {
        receive(max_results: u64) -> Res<Vec<udp::IncomingDatagram>>;
        subscribe() -> udp::Pollable;
    }
}

impl udp::GuestOutgoingDatagramStream for Never {
    unreachable_methods! {
        check_send() -> Res<u64>;
        send(datagrams: Vec<udp::OutgoingDatagram>) -> Res<u64>;
        subscribe() -> udp::Pollable;
    }
}

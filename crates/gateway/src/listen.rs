//! The listening socket. At a sale's opening thousands of buyers connect in
//! the same instant; a connection the kernel cannot queue for `accept` is
//! dropped, and its buyer's retry comes a second later (TCP's first SYN
//! retransmit), then three, then seven. The standard library listens with
//! a queue of 128: 256 connections opened at once on loopback already lost
//! some (`nstat`'s `TcpExtListenDrops`) and the slowest answer of a
//! stampede was 1.04 s. So the engine asks for [`LISTEN_BACKLOG`] (the
//! kernel caps it at `net.core.somaxconn`, 4096 by default).

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// The accept queue asked for.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (port 0 picks a free port) and listens with
/// [`LISTEN_BACKLOG`]; `SO_REUSEADDR` as the standard library sets it, so
/// a restart is not refused while old connections linger in `TIME_WAIT`.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Connections opened at once, none accepted yet: every one completes
    /// its handshake at once (up to what the kernel allows), none waits
    /// for a SYN retransmit.
    #[tokio::test]
    async fn a_burst_of_connections_is_queued_not_dropped() {
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        let burst = 600.min(somaxconn);
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let connects = (0..burst).map(|_| async move {
            // Far below the first SYN retransmit (1 s).
            tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect(addr))
                .await
                .ok()
                .and_then(Result::ok)
        });
        let open: Vec<_> = futures_util::future::join_all(connects)
            .await
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(
            open.len(),
            burst,
            "connections queued (net.core.somaxconn = {somaxconn})"
        );
        drop(listener);
    }
}

//! [`Proxy`]: a TCP proxy between a service and a store, to inject what
//! this kernel cannot (no `tc netem`): latency, a cut, and the heal.
//!
//! Latency delays every chunk by the same amount in each direction, in
//! order, without limiting throughput (a reader stamps each chunk, a writer
//! sends it when its time comes). A cut is either a close (every connection
//! ends at once and new ones are closed on arrival: a crash or a reset) or a
//! blackhole (connections stay open and nothing goes through: a partition,
//! where only time-outs and heartbeats notice). Healing ends every
//! connection that lived through the cut, as a partition that lasted past
//! TCP's patience would, and forwards again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Error;

/// How the link behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward (after the latency).
    Pass,
    /// Close every connection, and new ones on arrival.
    Close,
    /// Hold every connection open and forward nothing.
    Blackhole,
}

#[derive(Debug, Clone, Copy)]
struct Link {
    mode: Mode,
    latency: Duration,
    /// Changes with every cut and every heal: connections born in another
    /// generation end (or freeze, in a blackhole).
    generation: u64,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    link: watch::Sender<Link>,
    accepted: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<Self, Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::io("bind the proxy", e))?;
        let addr = listener.local_addr().map_err(|e| Error::io("proxy address", e))?;
        let (link, watcher) = watch::channel(Link {
            mode: Mode::Pass,
            latency: Duration::ZERO,
            generation: 0,
        });
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                let _ = client.set_nodelay(true);
                tokio::spawn(serve(client, upstream, watcher.clone()));
            }
        });
        Ok(Self {
            addr,
            link,
            accepted,
            task,
        })
    }

    /// Where services connect instead of the store.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Delays every chunk by `latency`, each way.
    pub fn set_latency(&self, latency: Duration) {
        self.link.send_modify(|l| l.latency = latency);
    }

    /// Cuts the link ([`Mode::Close`] or [`Mode::Blackhole`]).
    pub fn cut(&self, mode: Mode) {
        self.link.send_modify(|l| {
            l.mode = mode;
            l.generation += 1;
        });
    }

    /// No latency, forwarding again; connections that lived through a cut end.
    pub fn heal(&self) {
        self.link.send_modify(|l| {
            if l.mode != Mode::Pass {
                l.mode = Mode::Pass;
                l.generation += 1;
            }
            l.latency = Duration::ZERO;
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        // Connections end with the generation change.
        self.link.send_modify(|l| {
            l.mode = Mode::Close;
            l.generation += 1;
        });
    }
}

async fn serve(client: TcpStream, upstream: SocketAddr, mut link: watch::Receiver<Link>) {
    let born = *link.borrow_and_update();
    match born.mode {
        Mode::Close => return,
        Mode::Blackhole => {
            // Accepted, then silence until the next cut or heal.
            while link.changed().await.is_ok() {
                if link.borrow_and_update().generation != born.generation {
                    break;
                }
            }
            drop(client);
            return;
        }
        Mode::Pass => {}
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let (up, down) = (link.clone(), link.clone());
    let pumps = async move {
        tokio::join!(
            pump(client_read, server_write, up),
            pump(server_read, client_write, down)
        )
    };
    tokio::pin!(pumps);
    let mut frozen = false;
    loop {
        tokio::select! {
            _ = &mut pumps, if !frozen => return,
            changed = link.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = *link.borrow_and_update();
                if now.generation != born.generation {
                    match now.mode {
                        // The pumps are no longer polled: the sockets stay
                        // open and nothing moves.
                        Mode::Blackhole => frozen = true,
                        Mode::Close | Mode::Pass => return,
                    }
                }
            }
        }
    }
}

/// Copies `from` to `to`, each chunk delayed by the current latency.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, link: watch::Receiver<Link>) {
    let (chunks, mut ready) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if chunks.send((Instant::now(), buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    };
    let write = async move {
        while let Some((at, chunk)) = ready.recv().await {
            let latency = link.borrow().latency;
            if !latency.is_zero() {
                tokio::time::sleep_until(at + latency).await;
            }
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

//! `flashsale bench draw`: a fair start's draw with many entrants (issue
//! 19). A sale whose draw window opens now; every buyer opens a connection
//! and sends one purchase, which waits in the draw until the window closes
//! and the entries are served. The report: the entrants the engine
//! counted, its memory idle and with every buyer waiting, and the time from
//! the window's close to the first and the last answer.
//!
//! Every waiting buyer is one TCP connection on each side, so one
//! process's open-file limit caps the buyers it holds: the buyers are
//! spread over several gateways (`--target a,b,…`) and generator processes
//! (`--processes`), and `scripts/bench/draw.sh` raises the limit as far as
//! allowed. One loopback source address has about 28,000 ephemeral ports
//! towards one server port, so the buyers connect from 127.0.0.1,
//! 127.0.0.2, …, `--per-source` each.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::stampede::{post_sale, proc_memory_mib, send, token, BenchError, EngineSecrets};
use flashsale_testkit::http::{authority, Conn};

/// `flashsale bench draw`.
#[derive(Debug, Clone, Args)]
pub struct DrawArgs {
    /// The gateways' URLs (IPv4 addresses and ports), comma-separated:
    /// buyer `i` goes to the `i % n`th.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Buyers entering the draw, one purchase each.
    #[arg(long, default_value_t = 100_000)]
    pub entrants: u64,
    /// Units on sale.
    #[arg(long, default_value_t = 10_000)]
    pub stock: u64,
    /// Seconds the window stays open from the sale's creation: every buyer
    /// must be in by then (at most 60).
    #[arg(long, default_value_t = 50)]
    pub window_seconds: u32,
    /// Buyers per loopback source address.
    #[arg(long, default_value_t = 25_000)]
    pub per_source: u64,
    /// Generator processes the buyers are split over (each holds its
    /// buyers' connections: one process's open-file limit caps them).
    #[arg(long, default_value_t = 1)]
    pub processes: u64,
    /// Connections being opened at once, per generator process.
    #[arg(long, default_value_t = 512)]
    pub connecting: usize,
    /// The engine's process ids, comma-separated: their memory is read
    /// from /proc and summed.
    #[arg(long, value_delimiter = ',')]
    pub pid: Vec<u32>,
    /// Set by the process that spawns a generator process.
    #[arg(long, hide = true)]
    pub join: Option<String>,
    #[command(flatten)]
    pub secrets: EngineSecrets,
}

/// What the draw gave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrawReport {
    pub entrants: u64,
    pub stock: u64,
    pub gateways: usize,
    /// Purchases sent before the window closed.
    pub entered: u64,
    /// The draw's entrants, as the engine counted them.
    pub counted: u64,
    /// Answers by HTTP status (202, 409, …); 0: no answer (connection lost).
    pub answers: BTreeMap<u16, u64>,
    /// From the window's close: the first answer, the median, the 99th
    /// percentile and the last.
    pub first_answer_s: f64,
    pub median_answer_s: f64,
    pub p99_answer_s: f64,
    pub last_answer_s: f64,
    pub rss_idle_mib: Option<f64>,
    pub rss_waiting_mib: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

impl DrawReport {
    pub fn table(&self) -> String {
        let mib = |m: Option<f64>| m.map_or("?".into(), |m| format!("{m:.1} MiB"));
        let per_waiter = match (self.rss_idle_mib, self.rss_waiting_mib) {
            (Some(idle), Some(waiting)) if self.entered > 0 => {
                format!(
                    " ({:.1} KiB per waiting buyer)",
                    (waiting - idle) * 1024.0 / self.entered as f64
                )
            }
            _ => String::new(),
        };
        format!(
            "draw: {} buyers on {} units, over {} gateways\n\
             \x20 entered          {} before the close; the engine counted {} entrants\n\
             \x20 answers          {:?} (by HTTP status; 0: none)\n\
             \x20 from the close   first {:.2} s   median {:.2} s   p99 {:.2} s   last {:.2} s\n\
             \x20 engine RSS       idle {}   all waiting {}{per_waiter}   peak {}\n",
            self.entrants,
            self.stock,
            self.gateways,
            self.entered,
            self.counted,
            self.answers,
            self.first_answer_s,
            self.median_answer_s,
            self.p99_answer_s,
            self.last_answer_s,
            mib(self.rss_idle_mib),
            mib(self.rss_waiting_mib),
            mib(self.peak_rss_mib),
        )
    }
}

/// One buyer: connects from `source`, sends the purchase, and waits for
/// the answer; a `503` (the engine shedding the stampede) or a lost
/// connection is asked again with the same key after a second, as the
/// shop page does, until `gives_up`. Returns the status (0 if none) and
/// when it came.
async fn enter(
    server: SocketAddr,
    source: Ipv4Addr,
    request: Arc<[u8]>,
    connecting: Arc<Semaphore>,
    entered: Arc<AtomicU64>,
    gives_up: Instant,
) -> (u16, Instant) {
    let mut counted = false;
    loop {
        let status = exchange(
            server,
            source,
            &request,
            &connecting,
            (!counted).then_some(&*entered),
        )
        .await;
        counted = true;
        match status {
            Some(status) if status != 503 => return (status, Instant::now()),
            _ if Instant::now() >= gives_up => return (status.unwrap_or(0), Instant::now()),
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// One request on a new connection from `source`: the connecting permit
/// is released once it is sent (and the first send counted in `entered`);
/// returns the answer's status.
async fn exchange(
    server: SocketAddr,
    source: Ipv4Addr,
    request: &[u8],
    connecting: &Semaphore,
    entered: Option<&AtomicU64>,
) -> Option<u16> {
    let permit = connecting.acquire().await.ok()?;
    let socket = TcpSocket::new_v4().ok()?;
    bind_without_port(&socket);
    socket.bind(SocketAddr::from((source, 0))).ok()?;
    let mut stream = socket.connect(server).await.ok()?;
    stream.write_all(request).await.ok()?;
    drop(permit);
    if let Some(entered) = entered {
        entered.fetch_add(1, Ordering::Relaxed);
    }
    // The status line is all the report needs; the answer ends with the
    // connection (`Connection: close`).
    let mut answer = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    std::str::from_utf8(answer.get(9..12)?).ok()?.parse().ok()
}

/// `IP_BIND_ADDRESS_NO_PORT`: the source address is bound now, the port
/// chosen at `connect` for the whole 4-tuple. Without it every `bind` to
/// port 0 searches the address's ports in use, which grows with the
/// connections held (tens of seconds of kernel time at 100,000), and one
/// address has one set of ports for every gateway.
fn bind_without_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket, and an int option of the size given.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Where each buyer goes: the gateways' addresses (buyer `i` to gateway
/// `i % n`), and the `Host` each is named by.
fn gateways(targets: &str) -> Result<Vec<(SocketAddr, String)>, BenchError> {
    targets
        .split(',')
        .map(|url| {
            let authority = authority(url.trim()).map_err(BenchError::Setup)?;
            let addr = authority.parse().map_err(|_| {
                BenchError::Setup(format!(
                    "{authority}: give each gateway as an IPv4 address and port"
                ))
            })?;
            Ok((addr, authority))
        })
        .collect()
}

/// What one generator's buyers got.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Share {
    /// Purchases sent before the window closed.
    entered: u64,
    answers: BTreeMap<u16, u64>,
    /// Seconds from the close to each answer.
    delays: Vec<f64>,
}

/// Buyers `from..to` of `sale`'s draw over `gateways`, whose window
/// closes at `closes`.
async fn run_share(
    args: &DrawArgs,
    gateways: &[(SocketAddr, String)],
    jwt: &str,
    sale: &str,
    (from, to): (u64, u64),
    closes: Instant,
) -> Result<Share, BenchError> {
    let connecting = Arc::new(Semaphore::new(args.connecting.max(1)));
    let entered = Arc::new(AtomicU64::new(0));
    let buyers: Vec<_> = (from..to)
        .map(|i| {
            let source = Ipv4Addr::new(127, 0, 0, 1 + (i / args.per_source) as u8);
            let (server, host) = &gateways[i as usize % gateways.len()];
            let request: Arc<[u8]> = format!(
                "POST /api/sales/{sale}/purchase HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
                 Idempotency-Key: draw-{i}\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\
                 Connection: close\r\n\r\n{{\"quantity\":1}}",
                token(jwt, &format!("entrant-{i}"))
            )
            .into_bytes()
            .into();
            tokio::spawn(enter(
                *server,
                source,
                request,
                connecting.clone(),
                entered.clone(),
                closes + Duration::from_secs(120),
            ))
        })
        .collect();
    let started = Instant::now();
    let mut shown = 0;
    while Instant::now() < closes {
        let n = entered.load(Ordering::Relaxed);
        if n >= to - from {
            break;
        }
        if n >= shown + (to - from) / 5 {
            eprintln!(
                "draw: buyers {from}..{to}: {n} in after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            shown = n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut share = Share {
        entered: entered.load(Ordering::Relaxed),
        ..Share::default()
    };
    for buyer in buyers {
        let (status, at) = buyer
            .await
            .map_err(|e| BenchError::Setup(format!("a buyer panicked: {e}")))?;
        *share.answers.entry(status).or_insert(0) += 1;
        if status != 0 {
            share
                .delays
                .push(at.saturating_duration_since(closes).as_secs_f64());
        }
    }
    Ok(share)
}

/// The engine processes' resident memory, summed, in MiB.
fn memory_mib(pids: &[u32], field: &str) -> Option<f64> {
    pids.iter()
        .map(|pid| proc_memory_mib(*pid, field))
        .sum::<Option<f64>>()
        .filter(|_| !pids.is_empty())
}

/// Runs the draw (see the module docs); returns what to print: the
/// report's table, or a generator process's share as one JSON line.
pub async fn run(args: &DrawArgs) -> Result<String, BenchError> {
    if args.entrants == 0 || args.stock == 0 || args.per_source == 0 || args.processes == 0 {
        return Err(BenchError::Setup(
            "--entrants, --stock, --per-source and --processes must be above 0".into(),
        ));
    }
    if !(2..=60).contains(&args.window_seconds) {
        return Err(BenchError::Setup("--window-seconds is 2 to 60".into()));
    }
    if args.entrants.div_ceil(args.per_source) > 250 {
        return Err(BenchError::Setup(
            "more than 250 source addresses: raise --per-source".into(),
        ));
    }
    let gateways = gateways(&args.target)?;
    let (admin, jwt) = args.secrets.read()?;
    if let Some(join) = &args.join {
        let share = join_as_generator(args, &gateways, &jwt, join).await?;
        return Ok(format!(
            "{}\n",
            serde_json::to_string(&share).expect("a share serialises")
        ));
    }
    let rss_idle_mib = memory_mib(&args.pid, "VmRSS:");

    // The window: the prequeue from now to the start, and one second after.
    let prequeue = args.window_seconds - 1;
    let mut conn = Conn::new(gateways[0].1.clone());
    let starts = chrono::Utc::now() + chrono::Duration::seconds(prequeue.into());
    let body = json!({"name": "bench draw", "product": "draw", "price_cents": 1,
                      "stock": args.stock, "per_user_limit": 1,
                      "starts_at": starts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                      "prequeue_seconds": prequeue, "fair_start_seconds": 1});
    let sale = post_sale(&mut conn, &admin, &body).await?;
    let created = Instant::now();
    let closes = created + Duration::from_secs(args.window_seconds.into());
    let closes_at = starts + chrono::Duration::seconds(1);
    eprintln!(
        "draw: sale {sale}; {} buyers over {} gateways and {} generator processes; the window closes in {} s",
        args.entrants,
        gateways.len(),
        args.processes,
        args.window_seconds
    );

    // The buyers, in this process or split over generator processes (one
    // process's open files cap the connections it holds).
    let per_process = args.entrants.div_ceil(args.processes);
    let shares = (0..args.processes).map(|p| {
        let (from, to) = (p * per_process, ((p + 1) * per_process).min(args.entrants));
        let (sale, jwt, gateways) = (sale.clone(), jwt.clone(), &gateways);
        async move {
            if args.processes == 1 {
                return run_share(args, gateways, &jwt, &sale, (from, to), closes).await;
            }
            let exe = std::env::current_exe().map_err(|e| BenchError::Setup(e.to_string()))?;
            let output = tokio::process::Command::new(exe)
                .args(std::env::args().skip(1))
                .arg("--join")
                .arg(format!("{sale},{},{from},{to}", closes_at.timestamp_millis()))
                .stderr(std::process::Stdio::inherit())
                .output()
                .await
                .map_err(|e| BenchError::Setup(format!("a generator process: {e}")))?;
            serde_json::from_slice::<Share>(&output.stdout).map_err(|e| {
                BenchError::Setup(format!("a generator process answered {e}: {}", output.status))
            })
        }
    });
    let measure = async {
        // Everyone's memory once the entering is over, just before the close.
        tokio::time::sleep_until(closes - Duration::from_millis(300)).await;
        memory_mib(&args.pid, "VmRSS:")
    };
    let (shares, rss_waiting_mib) = tokio::join!(futures_util::future::join_all(shares), measure);
    let mut total = Share::default();
    for share in shares {
        let share = share?;
        total.entered += share.entered;
        for (status, n) in share.answers {
            *total.answers.entry(status).or_insert(0) += n;
        }
        total.delays.extend(share.delays);
    }
    let mut delays = total.delays;
    delays.sort_by(f64::total_cmp);
    let at = |q: f64| {
        delays
            .get(((delays.len() as f64 * q) as usize).min(delays.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let (_, view) = send(
        &mut conn,
        hyper::Method::GET,
        &format!("/api/sales/{sale}"),
        None,
        None,
    )
    .await?;
    let view: Value = serde_json::from_slice(&view).unwrap_or_default();
    let report = DrawReport {
        entrants: args.entrants,
        stock: args.stock,
        gateways: gateways.len(),
        entered: total.entered,
        counted: view["draw"]["entrants"].as_u64().unwrap_or(0),
        answers: total.answers,
        first_answer_s: delays.first().copied().unwrap_or(0.0),
        median_answer_s: at(0.5),
        p99_answer_s: at(0.99),
        last_answer_s: delays.last().copied().unwrap_or(0.0),
        rss_idle_mib,
        rss_waiting_mib,
        peak_rss_mib: memory_mib(&args.pid, "VmHWM:"),
    };
    Ok(report.table())
}

/// A generator process (`--join sale,closes at (Unix ms),from,to`): its
/// buyers' share, for the process that spawned it.
async fn join_as_generator(
    args: &DrawArgs,
    gateways: &[(SocketAddr, String)],
    jwt: &str,
    join: &str,
) -> Result<Share, BenchError> {
    let bad = || BenchError::Setup(format!("--join {join}: sale,closes-at-ms,from,to"));
    let parts: Vec<&str> = join.split(',').collect();
    let [sale, closes_ms, from, to] = parts.as_slice() else {
        return Err(bad());
    };
    let number = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let wait = number(closes_ms)? - chrono::Utc::now().timestamp_millis();
    let closes = Instant::now() + Duration::from_millis(wait.max(0) as u64);
    let share = (number(from)? as u64, number(to)? as u64);
    run_share(args, gateways, jwt, sale, share, closes).await
}

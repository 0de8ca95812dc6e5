//! `flashsale bench draw`: a fair start's draw with many entrants (issue
//! 19). A sale whose draw window opens now; every buyer opens a connection
//! and sends one purchase, which waits in the draw until the window closes
//! and the entries are served. The report: the entrants the engine
//! counted, its memory idle and with every buyer waiting, and the time from
//! the window's close to the first and the last answer.
//!
//! Every waiting buyer is one TCP connection on each side: raise the
//! open-file limit of both processes first (`scripts/bench/draw.sh` does).
//! One loopback source
//! address has about 28,000 ephemeral ports towards one server port, so
//! the buyers connect from 127.0.0.1, 127.0.0.2, …, `--per-source` each.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
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
    /// The gateway's URL (an IPv4 address and port).
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
    /// Connections being opened at once.
    #[arg(long, default_value_t = 512)]
    pub connecting: usize,
    /// The engine's process id: its memory is read from /proc.
    #[arg(long)]
    pub pid: Option<u32>,
    #[command(flatten)]
    pub secrets: EngineSecrets,
}

/// What the draw gave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrawReport {
    pub entrants: u64,
    pub stock: u64,
    /// Purchases sent before the window closed.
    pub entered: u64,
    /// Seconds from the sale's creation until every purchase was sent.
    pub entering_seconds: f64,
    /// The draw's entrants, as the engine counted them.
    pub counted: u64,
    /// Answers by HTTP status (202, 409, …); 0: no answer (connection lost).
    pub answers: std::collections::BTreeMap<u16, u64>,
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
            "draw: {} buyers on {} units\n\
             \x20 entered          {} in {:.1} s; the engine counted {} entrants\n\
             \x20 answers          {:?} (by HTTP status; 0: none)\n\
             \x20 from the close   first {:.2} s   median {:.2} s   p99 {:.2} s   last {:.2} s\n\
             \x20 engine RSS       idle {}   all waiting {}{per_waiter}   peak {}\n",
            self.entrants,
            self.stock,
            self.entered,
            self.entering_seconds,
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

/// Runs the draw; see the module docs.
pub async fn run(args: &DrawArgs) -> Result<DrawReport, BenchError> {
    if args.entrants == 0 || args.stock == 0 || args.per_source == 0 {
        return Err(BenchError::Setup(
            "--entrants, --stock and --per-source must be above 0".into(),
        ));
    }
    if !(2..=60).contains(&args.window_seconds) {
        return Err(BenchError::Setup("--window-seconds is 2 to 60".into()));
    }
    let sources = args.entrants.div_ceil(args.per_source);
    if sources > 250 {
        return Err(BenchError::Setup(
            "more than 250 source addresses: raise --per-source".into(),
        ));
    }
    let authority = authority(&args.target).map_err(BenchError::Setup)?;
    let server: SocketAddr = authority.parse().map_err(|_| {
        BenchError::Setup(format!(
            "{authority}: give the gateway as an IPv4 address and port"
        ))
    })?;
    let (admin, jwt) = args.secrets.read()?;
    let rss_idle_mib = args.pid.and_then(|pid| proc_memory_mib(pid, "VmRSS:"));

    // The window: the prequeue from now to the start, and one second after.
    let prequeue = args.window_seconds - 1;
    let mut conn = Conn::new(authority.clone());
    let starts = chrono::Utc::now() + chrono::Duration::seconds(prequeue.into());
    let body = json!({"name": "bench draw", "product": "draw", "price_cents": 1,
                      "stock": args.stock, "per_user_limit": 1,
                      "starts_at": starts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                      "prequeue_seconds": prequeue, "fair_start_seconds": 1});
    let sale = post_sale(&mut conn, &admin, &body).await?;
    let created = Instant::now();
    let closes = created + Duration::from_secs(args.window_seconds.into());
    eprintln!("draw: sale {sale}; window closes in {} s", args.window_seconds);

    let connecting = Arc::new(Semaphore::new(args.connecting.max(1)));
    let entered = Arc::new(AtomicU64::new(0));
    let buyers: Vec<_> = (0..args.entrants)
        .map(|i| {
            let source = Ipv4Addr::new(127, 0, 0, 1 + (i / args.per_source) as u8);
            let request: Arc<[u8]> = format!(
                "POST /api/sales/{sale}/purchase HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {}\r\n\
                 Idempotency-Key: draw-{i}\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\
                 Connection: close\r\n\r\n{{\"quantity\":1}}",
                token(&jwt, &format!("entrant-{i}"))
            )
            .into_bytes()
            .into();
            tokio::spawn(enter(
                server,
                source,
                request,
                connecting.clone(),
                entered.clone(),
                closes + Duration::from_secs(120),
            ))
        })
        .collect();

    // Progress while they enter; then the memory with everyone waiting.
    let mut entering_seconds = 0.0;
    let mut last_shown = 0;
    while Instant::now() < closes {
        let n = entered.load(Ordering::Relaxed);
        if n >= args.entrants {
            entering_seconds = created.elapsed().as_secs_f64();
            break;
        }
        if n >= last_shown + args.entrants / 10 {
            eprintln!(
                "draw: {n} buyers in after {:.1} s",
                created.elapsed().as_secs_f64()
            );
            last_shown = n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let entered_by_close = entered.load(Ordering::Relaxed);
    eprintln!("draw: {entered_by_close} buyers in; waiting for the close");
    // Their memory once the entering is over, just before the close.
    tokio::time::sleep_until(closes - Duration::from_millis(300)).await;
    let rss_waiting_mib = args.pid.and_then(|pid| proc_memory_mib(pid, "VmRSS:"));

    let mut answers = std::collections::BTreeMap::new();
    let mut delays = Vec::with_capacity(buyers.len());
    for buyer in buyers {
        let (status, at) = buyer
            .await
            .map_err(|e| BenchError::Setup(format!("a buyer panicked: {e}")))?;
        *answers.entry(status).or_insert(0) += 1;
        if status != 0 {
            delays.push(at.saturating_duration_since(closes).as_secs_f64());
        }
    }
    delays.sort_by(f64::total_cmp);
    let at = |q: f64| {
        delays
            .get(((delays.len() as f64 * q) as usize).min(delays.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let (_, view) = send(
        &mut Conn::new(authority),
        hyper::Method::GET,
        &format!("/api/sales/{sale}"),
        None,
        None,
    )
    .await?;
    let view: Value = serde_json::from_slice(&view).unwrap_or_default();
    Ok(DrawReport {
        entrants: args.entrants,
        stock: args.stock,
        entered: entered_by_close,
        entering_seconds,
        counted: view["draw"]["entrants"].as_u64().unwrap_or(0),
        answers,
        first_answer_s: delays.first().copied().unwrap_or(0.0),
        median_answer_s: at(0.5),
        p99_answer_s: at(0.99),
        last_answer_s: delays.last().copied().unwrap_or(0.0),
        rss_idle_mib,
        rss_waiting_mib,
        peak_rss_mib: args.pid.and_then(|pid| proc_memory_mib(pid, "VmHWM:")),
    })
}

//! Starting the engine on port 0 and talking to it over HTTP/1.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use flashsale::{Engine, Settings};
use flashsale_testkit::http::Conn;
use hyper::body::Bytes;
use hyper::{HeaderMap, Method};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

pub const ADMIN: &str = "test-admin-token-0123456789abcdef0123456789";
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef0123456789";
pub const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789abcdef";

/// A fresh, empty data folder under the target directory.
pub fn data_dir(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "engine-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Settings of a test engine: port 0, no rate limits, known secrets.
pub fn settings(name: &str) -> Settings {
    Settings {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: data_dir(name),
        admin_token: Some(ADMIN.into()),
        jwt_secret: Some(JWT_SECRET.into()),
        jwt: flashsale::settings::JwtSettings::default(),
        service_token: None,
        rate_per_ip: 0,
        rate_per_user: 0,
        max_in_flight: 4096,
        queue_capacity: 16_384,
        body_limit: 16 * 1024,
        dashboard_dir: Some("/nonexistent".into()),
        redis_url: None,
        amqp_url: None,
        amqp_queue: "orders".into(),
        redis_timeout_ms: 2_000,
        sweep_after_ms: 60_000,
        archive_after: std::time::Duration::from_secs(3600),
        redis_allow_eviction: false,
        redis_reserve_batch: flashsale_stack::redis::DEFAULT_RESERVE_BATCH as u64,
        redis_replicas_ack: 0,
        log_format: "text".into(),
        database_url: None,
        payments: None,
        payment_webhook_secret: Some(WEBHOOK_SECRET.into()),
        webhook_url: None,
        webhook_secret: None,
        product_url: String::new(),
        inventory_url: String::new(),
        order_url: String::new(),
    }
}

/// A running engine; stopped gracefully on drop.
pub struct TestApp {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The engine's start-up summary (the banner's lines).
    pub summary: Vec<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(settings: Settings) -> Self {
        let data_dir = settings.data_dir.clone();
        let engine = Engine::start(&settings).await.expect("engine starts");
        let addr = engine.local_addr();
        let summary = engine.summary().to_vec();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            engine
                .run_until_stopped(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            data_dir,
            summary,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn start(name: &str) -> Self {
        Self::spawn(settings(name)).await
    }

    /// Stops gracefully, waits until every answered order is committed,
    /// and removes the data folder.
    pub async fn stop(self) {
        let data_dir = self.data_dir.clone();
        self.halt().await;
        let _ = std::fs::remove_dir_all(&data_dir);
    }

    /// Stops gracefully and waits until every answered order is committed;
    /// keeps the data folder, for a restart.
    pub async fn halt(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    pub async fn create_sale(&self, stock: u64, limit: u32) -> String {
        let (status, _, body) = self
            .client()
            .await
            .send(
                Method::POST,
                "/api/admin/sales",
                Some(ADMIN),
                &[],
                Some(json!({"name": "Test sale", "product": "Widget", "price_cents": 1999, "stock": stock, "per_user_limit": limit})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// A sale, started.
    pub async fn active_sale(&self, stock: u64, limit: u32) -> String {
        open_sale(self.addr, stock, limit).await
    }

    /// An admin POST that must succeed.
    pub async fn admin(&self, path: &str, body: Option<Value>) -> Value {
        let (status, _, answer) = self
            .client()
            .await
            .send(Method::POST, path, Some(ADMIN), &[], body)
            .await;
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        answer
    }

    pub async fn sale(&self, id: &str) -> Value {
        let (status, _, body) = self
            .client()
            .await
            .send(Method::GET, &format!("/api/sales/{id}"), None, &[], None)
            .await;
        assert_eq!(status, 200);
        body
    }

    /// `GET /api/health`: its status and body.
    pub async fn health(&self) -> (u16, Value) {
        let (status, _, body) = self
            .client()
            .await
            .send(Method::GET, "/api/health", None, &[], None)
            .await;
        (status, body)
    }

    pub async fn stats(&self) -> Value {
        let (status, _, body) = self
            .client()
            .await
            .send(Method::GET, "/api/admin/stats", Some(ADMIN), &[], None)
            .await;
        assert_eq!(status, 200);
        body
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A buyer token signed with the test secret.
pub fn buyer(user: &str) -> String {
    flashsale_testkit::tokens::buyer_with(JWT_SECRET.as_bytes(), user)
}

/// One keep-alive HTTP/1.1 connection; a request that fails at the
/// transport panics (but see [`Client::try_send`]).
pub struct Client {
    conn: Conn,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self {
            conn: Conn::new(addr),
        }
    }

    /// Sends a request; the body is JSON when given. Returns the status, the
    /// headers and the body parsed as JSON (or `Null`).
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, HeaderMap, Value) {
        let raw = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.send_raw(method, path, bearer, headers, raw).await
    }

    pub async fn send_raw(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, HeaderMap, Value) {
        let authorization = bearer.map(|token| format!("Bearer {token}"));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.extend(authorization.as_deref().map(|value| ("authorization", value)));
        let body = (!body.is_empty()).then(|| Bytes::from(body));
        let answer = self
            .conn
            .request(method, path, &all, body, None)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let json = answer.json();
        (answer.status, answer.headers, json)
    }

    /// A purchase that may fail at the transport (the engine was killed):
    /// `None` then.
    pub async fn try_send(
        &mut self,
        method: Method,
        path: &str,
        bearer: &str,
        key: &str,
        body: Value,
    ) -> Option<(u16, Value)> {
        let authorization = format!("Bearer {bearer}");
        let headers = [
            ("authorization", authorization.as_str()),
            ("idempotency-key", key),
        ];
        let body = Some(Bytes::from(body.to_string()));
        let answer = self.conn.request(method, path, &headers, body, None).await.ok()?;
        Some((answer.status, answer.json()))
    }

    /// Reads an event stream until its text contains every one of `needles`
    /// (or 30 s pass); returns the status and what was read.
    pub async fn read_stream(&mut self, path: &str, needles: &[&str]) -> (u16, String) {
        self.conn
            .stream_until(path, &[], needles, std::time::Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A purchase of `quantity` units by `user`.
    pub async fn buy(&mut self, sale: &str, user: &str, quantity: u32, key: Option<&str>) -> (u16, Value) {
        let token = buyer(user);
        let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
        let (status, _, body) = self
            .send(
                Method::POST,
                &format!("/api/sales/{sale}/purchase"),
                Some(&token),
                &headers,
                Some(json!({"quantity": quantity})),
            )
            .await;
        (status, body)
    }
}

/// The error code of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error body>")
}

/// The real binary running `flashsale up`, as an operator runs it, on a
/// free port.
pub async fn launch(data: &Path, env: &[(&str, &str)]) -> (Child, SocketAddr) {
    launch_command("up", data, env).await
}

/// The real binary running `command` (`up`, `gateway`, `product`, ...) on a
/// free port; returns once it prints the address it listens on.
pub async fn launch_command(command: &str, data: &Path, env: &[(&str, &str)]) -> (Child, SocketAddr) {
    spawn_command(command, data, env, Stdio::inherit()).await
}

/// [`launch_command`], with the process's log lines (stderr) to read.
pub async fn launch_with_logs(
    command: &str,
    data: &Path,
    env: &[(&str, &str)],
) -> (
    Child,
    SocketAddr,
    tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
) {
    let (mut child, addr) = spawn_command(command, data, env, Stdio::piped()).await;
    let logs = BufReader::new(child.stderr.take().unwrap()).lines();
    (child, addr, logs)
}

async fn spawn_command(
    command: &str,
    data: &Path,
    env: &[(&str, &str)],
    stderr: Stdio,
) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flashsale"))
        .arg(command)
        .env_clear()
        .env("FLASHSALE_BIND", "127.0.0.1:0")
        .env("FLASHSALE_DATA_DIR", data)
        .env("FLASHSALE_ADMIN_TOKEN", ADMIN)
        .env("FLASHSALE_JWT_SECRET", JWT_SECRET)
        .env("FLASHSALE_RATE_PER_IP", "0")
        .env("FLASHSALE_RATE_PER_USER", "0")
        .env("FLASHSALE_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("the flashsale binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next_line().await.unwrap().expect("the banner");
        if let Some((_, url)) = line.split_once("listening on http://") {
            break url.parse().unwrap();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// Creates a sale through the admin API of the engine at `addr` and starts
/// it; returns its id.
pub async fn open_sale(addr: SocketAddr, stock: u64, limit: u32) -> String {
    let mut c = Client::connect(addr).await;
    let body = json!({"name": "Test sale", "product": "Widget", "price_cents": 1999, "stock": stock, "per_user_limit": limit});
    let (status, _, created) = c
        .send(Method::POST, "/api/admin/sales", Some(ADMIN), &[], Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, _, started) = c
        .send(
            Method::POST,
            &format!("/api/admin/sales/{id}/start"),
            Some(ADMIN),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{started}");
    id
}

/// No buyer holds more than `limit` of the accepted orders (order id → buyer).
pub fn assert_within_limit<'a>(buyers: impl IntoIterator<Item = &'a String>, limit: usize) {
    let mut per_buyer: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for user in buyers {
        *per_buyer.entry(user).or_default() += 1;
    }
    let worst = per_buyer.values().copied().max().unwrap_or(0);
    assert!(worst <= limit, "a buyer holds {worst} units, limit {limit}");
}

/// A service process, or a gateway over some, running in this test's
/// process; it stops (gracefully) when dropped.
pub struct Served {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Served {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// `flashsale product|inventory|order` on `settings`, served.
pub async fn serve_service(kind: flashsale::services::Kind, settings: &Settings) -> Served {
    let process = flashsale::services::ServiceProcess::start(kind, settings)
        .await
        .expect("the service starts");
    let addr = process.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(process.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    Served { addr, _stop: stop }
}

/// `flashsale gateway` on `settings` over the given services' URLs (each
/// may list several, comma-separated), served.
pub async fn serve_gateway(settings: &Settings, product: &str, inventory: &str, order: &str) -> Served {
    let mut g = settings.clone();
    g.product_url = product.to_owned();
    g.inventory_url = inventory.to_owned();
    g.order_url = order.to_owned();
    let gateway = flashsale::Engine::gateway(&g).await.expect("the gateway starts");
    let addr = gateway.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(gateway.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    Served { addr, _stop: stop }
}

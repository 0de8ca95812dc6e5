//! One engine process (`flashsale product|order|inventory|gateway`) that
//! the suite can kill, pause and start again on the same address, so the
//! gateways' service URLs stay valid across a restart.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use flashsale_testkit::http::{Answer, ClientError, Conn};
use flashsale_testkit::stores::{free_port, record_pid, signal};
use flashsale_testkit::tokens;
use hyper::body::Bytes;
use hyper::Method;
use serde_json::Value;

use crate::Error;

/// The admin token every process of the suite shares.
pub const ADMIN_TOKEN: &str = "chaos-admin-token-0123456789abcdef0123456789";
/// The buyers' JWT secret every process of the suite shares.
pub const JWT_SECRET: &str = "chaos-jwt-secret-0123456789abcdef0123456789ab";

/// A valid buyer token for `user`, with the suite's secret.
pub fn buyer(user: &str) -> String {
    tokens::buyer_with(JWT_SECRET.as_bytes(), user)
}

/// The operator's calls, with the suite's admin token and a JSON body.
pub trait AdminCalls {
    fn admin<'a>(
        &'a mut self,
        method: Method,
        path: &'a str,
        body: Option<Value>,
    ) -> impl std::future::Future<Output = Result<Answer, ClientError>> + Send + 'a;
}

impl AdminCalls for Conn {
    async fn admin<'a>(
        &'a mut self,
        method: Method,
        path: &'a str,
        body: Option<Value>,
    ) -> Result<Answer, ClientError> {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let body = body.map(|b| Bytes::from(b.to_string()));
        self.request(
            method,
            path,
            &[("authorization", &bearer)],
            body,
            Some(Duration::from_secs(10)),
        )
        .await
    }
}

/// How long a process may take to print its address.
const START_BOUND: Duration = Duration::from_secs(60);

/// An engine process.
pub struct Service {
    /// `gateway-1`, `inventory-2`, ...: for logs and reports.
    pub name: String,
    command: &'static str,
    bin: PathBuf,
    env: Vec<(String, String)>,
    /// Where it listens; the same after every restart.
    pub addr: SocketAddr,
    /// The suite's folder: logs go to `<name>.log`, pids to `pids`.
    dir: PathBuf,
    child: Option<Child>,
    /// Whether it is stopped with `SIGSTOP`.
    paused: bool,
}

impl Service {
    /// Starts `flashsale <command>` on a free port with `env` (on top of the
    /// suite's secrets and `FLASHSALE_BIND`).
    pub async fn start(
        name: String,
        command: &'static str,
        bin: &Path,
        dir: &Path,
        env: Vec<(String, String)>,
    ) -> Result<Self, Error> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut service = Self {
            name,
            command,
            bin: bin.to_owned(),
            env,
            addr,
            dir: dir.to_owned(),
            child: None,
            paused: false,
        };
        service.spawn().await?;
        Ok(service)
    }

    async fn spawn(&mut self) -> Result<(), Error> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", self.name)))
            .map_err(|e| Error::io("open a service log", e))?;
        let data = self.dir.join(format!("data-{}", self.name));
        std::fs::create_dir_all(&data).map_err(|e| Error::io("service data folder", e))?;
        let deadline = tokio::time::Instant::now() + START_BOUND;
        loop {
            let mut child = Command::new(&self.bin)
                .arg(self.command)
                .env_clear()
                .env("FLASHSALE_BIND", self.addr.to_string())
                .env("FLASHSALE_DATA_DIR", &data)
                .env("FLASHSALE_ADMIN_TOKEN", ADMIN_TOKEN)
                .env("FLASHSALE_JWT_SECRET", JWT_SECRET)
                .env("FLASHSALE_RATE_PER_IP", "0")
                .env("FLASHSALE_RATE_PER_USER", "0")
                .env("FLASHSALE_LOG", "warn")
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(log.try_clone().map_err(|e| Error::io("service log", e))?)
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| Error::io(&format!("start {}", self.bin.display()), e))?;
            if let Some(pid) = child.id() {
                record_pid(&self.dir, pid);
            }
            let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
            let banner = tokio::time::timeout_at(deadline, async {
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.contains("listening on http://") {
                        return true;
                    }
                }
                false
            })
            .await;
            match banner {
                Ok(true) => {
                    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                    self.child = Some(child);
                    self.paused = false;
                    return Ok(());
                }
                // It exited before listening (a store it needs is down, say):
                // try again until the bound.
                Ok(false) if tokio::time::Instant::now() < deadline => {
                    let _ = child.wait().await;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                _ => {
                    let _ = child.start_kill();
                    return Err(Error::new(format!(
                        "{} did not start within {START_BOUND:?} (see {}.log)",
                        self.name, self.name
                    )));
                }
            }
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `kill -9`, and waits until it is gone.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        self.paused = false;
    }

    /// Starts it again on the same address.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.kill9().await;
        self.spawn().await
    }

    /// `SIGSTOP`: the process holds its sockets and answers nothing.
    pub async fn pause(&mut self) {
        if let Some(pid) = self.pid() {
            signal(pid, "STOP").await;
            self.paused = true;
        }
    }

    /// `SIGCONT`.
    pub async fn resume(&mut self) {
        if let Some(pid) = self.pid() {
            signal(pid, "CONT").await;
        }
        self.paused = false;
    }

    /// `SIGTERM` and a wait for the graceful stop (bounded), then `kill -9`.
    pub async fn stop(&mut self) {
        if self.paused {
            self.resume().await;
        }
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                signal(pid, "TERM").await;
            }
            if tokio::time::timeout(Duration::from_secs(15), child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
    }
}

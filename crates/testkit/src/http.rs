//! A lean HTTP/1.1 client: one keep-alive connection, reopened after any
//! transport error or time-out. No pooling, no redirects, no TLS: on a
//! 2-core machine a load generator shares the CPU with the engine.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// A transport failure (connection refused or reset, malformed answer, no
/// answer in time). The connection is closed; the next request opens one.
#[derive(Debug, Clone)]
pub struct ClientError {
    pub target: String,
    pub reason: String,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.target, self.reason)
    }
}

impl std::error::Error for ClientError {}

/// Parses `http://host:port[/]` into `host:port`.
pub fn authority(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// targets are supported"))?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(format!("{url}: expected http://host:port"));
    }
    Ok(authority.to_owned())
}

/// One answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    /// `Idempotent-Replayed: true`: the first answer to this key, again.
    pub replayed: bool,
    /// `Retry-After`, when given.
    pub retry_after: Option<u64>,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The error code of an error body, if the body is one.
    pub fn code(&self) -> Option<String> {
        self.json()["error"]["code"].as_str().map(str::to_owned)
    }
}

/// One connection to one `host:port`.
pub struct Conn {
    authority: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(authority: impl ToString) -> Self {
        Self {
            authority: authority.to_string(),
            sender: None,
        }
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }

    fn fail(&mut self, reason: impl ToString) -> ClientError {
        self.sender = None;
        ClientError {
            target: self.authority.clone(),
            reason: reason.to_string(),
        }
    }

    /// Sends one request (`body` as JSON when given) and reads the whole
    /// answer, within `timeout` when given.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
        timeout: Option<Duration>,
    ) -> Result<Answer, ClientError> {
        let exchange = self.exchange(method, path, headers, body);
        let result = match timeout {
            Some(limit) => tokio::time::timeout(limit, exchange)
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {limit:?}"))),
            None => exchange.await,
        };
        result.map_err(|reason| self.fail(reason))
    }

    /// Reads an event stream at `path` until its text contains every one of
    /// `needles`, the stream ends, or `timeout` passes; returns the status
    /// and what was read.
    pub async fn stream_until(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        needles: &[&str],
        timeout: Duration,
    ) -> Result<(u16, String), ClientError> {
        let request = self.build(Method::GET, path, headers, None);
        let read = async {
            let response = self.send(request?).await?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut text = String::new();
            while !needles.iter().all(|n| text.contains(n)) {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            text.push_str(&String::from_utf8_lossy(data));
                        }
                    }
                    _ => break,
                }
            }
            Ok((status, text))
        };
        let result = tokio::time::timeout(timeout, read)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")));
        // A stream left open is not reusable for the next request.
        self.sender = None;
        result.map_err(|reason| self.fail(reason))
    }

    fn build(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<Request<Full<Bytes>>, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.authority);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| e.to_string())
    }

    async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(&self.authority)
                .await
                .map_err(|e| e.to_string())?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().expect("just connected");
        sender.ready().await.map_err(|e| e.to_string())?;
        sender.send_request(request).await.map_err(|e| e.to_string())
    }

    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<Answer, String> {
        let request = self.build(method, path, headers, body)?;
        let response = self.send(request).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let replayed = headers
            .get("idempotent-replayed")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let retry_after = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Answer {
            status,
            headers,
            replayed,
            retry_after,
            body,
        })
    }
}

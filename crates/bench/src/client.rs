//! A lean HTTP/1.1 client: one keep-alive connection per worker, reopened
//! after a transport error. On a 2-core machine the generator shares the CPU
//! with the engine, so it does no pooling, no redirects, no TLS.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A transport failure (connection refused or reset, malformed answer).
#[derive(Debug, thiserror::Error)]
#[error("{target}: {reason}")]
pub struct ClientError {
    pub target: String,
    pub reason: String,
}

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

/// One connection to one target.
pub struct Conn {
    authority: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(authority: String) -> Self {
        Self {
            authority,
            sender: None,
        }
    }

    fn fail(&self, reason: impl ToString) -> ClientError {
        ClientError {
            target: self.authority.clone(),
            reason: reason.to_string(),
        }
    }

    async fn sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, ClientError> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(&self.authority)
                .await
                .map_err(|e| self.fail(e))?;
            stream.set_nodelay(true).map_err(|e| self.fail(e))?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| self.fail(e))?;
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("just connected"))
    }

    /// Sends one request and reads the whole answer.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<(u16, Bytes), ClientError> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.authority);
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| self.fail(e))?;
        let result = async {
            let sender = self.sender().await.map_err(|e| e.reason)?;
            sender.ready().await.map_err(|e| e.to_string())?;
            let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        }
        .await;
        result.map_err(|reason| {
            self.sender = None;
            self.fail(reason)
        })
    }
}

//! Bad requests for the property test of the HTTP API: generators
//! (`proptest` strategies), a raw HTTP/1.1 client that sends any bytes
//! (no client-side validation in the way), and what the engine must answer.
//!
//! Every generated request is one the engine must refuse: a purchase body
//! that is not `{"quantity": n}` with `1 <= n <= limit`, a token that is not
//! a valid buyer JWT, an admin token that is not the admin token, an
//! `Idempotency-Key` that is not 1 to 128 visible ASCII characters, a sale
//! id that is not a sale, a header too large, a path that tries to leave
//! the dashboard's folder.

use std::net::SocketAddr;
use std::time::Duration;

use flashsale_testkit::tokens;
use proptest::prelude::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer read off the wire.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The code of a well-formed error body (`{"error": {"code", "message"}}`
    /// with a non-empty message), if the body is one.
    pub fn error_code(&self) -> Option<String> {
        let v = self.json();
        let message = v["error"]["message"].as_str().is_some_and(|m| !m.is_empty());
        v["error"]["code"].as_str().filter(|_| message).map(str::to_owned)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` with `headers` and `body` as raw bytes on a new
/// connection (`Connection: close`) and reads the whole answer.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &[u8],
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Result<RawAnswer, String> {
    let mut request = Vec::with_capacity(256 + body.len());
    request.extend_from_slice(method.as_bytes());
    request.push(b' ');
    request.extend_from_slice(path);
    request.extend_from_slice(b" HTTP/1.1\r\nhost: engine\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    request.extend_from_slice(body);
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream.write_all(&request).await.map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        // The server may answer and close before reading a large request:
        // a reset after the answer is still an answer.
        let _ = stream.read_to_end(&mut raw).await;
        parse(&raw)
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no answer within 10 s".to_owned())?
}

fn parse(raw: &[u8]) -> Result<RawAnswer, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no complete answer ({} bytes)", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = unchunk(&body);
    }
    Ok(RawAnswer {
        status,
        headers,
        body,
    })
}

fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || raw.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[(eol + 4 + size).min(raw.len())..];
    }
    out
}

/// Percent-encodes every byte that is not unreserved.
pub fn percent_encode(raw: &[u8]) -> String {
    raw.iter()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (*b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `body` is a well-formed purchase of 1 to `limit` units (the
/// generators never want one).
pub fn is_valid_purchase(body: &[u8], limit: u64) -> bool {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            map.len() == 1
                && map
                    .get("quantity")
                    .and_then(Value::as_u64)
                    .is_some_and(|q| (1..=limit).contains(&q))
        }
        _ => false,
    }
}

/// Any JSON value, nested a little.
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Purchase bodies that are not a valid purchase (for a limit of `limit`).
pub fn bad_purchase_body(limit: u64) -> impl Strategy<Value = Vec<u8>> {
    let quantity = prop_oneof![
        json_value(),
        (limit as i64 + 1..i64::MAX).prop_map(Value::from),
        (i64::MIN..=0).prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(serde_json::json!(1.0)),
        "[0-9]{20,40}".prop_map(Value::String),
    ];
    prop_oneof![
        // {"quantity": <not a valid quantity>}
        quantity
            .clone()
            .prop_map(|q| serde_json::json!({ "quantity": q }).to_string().into_bytes()),
        // Big numbers as raw text (past u64 and f64).
        "-?[0-9]{20,400}".prop_map(|n| format!(r#"{{"quantity":{n}}}"#).into_bytes()),
        // A valid quantity with more fields.
        (1..=limit, "\\PC{1,12}", json_value()).prop_map(|(q, k, v)| {
            let mut m = serde_json::Map::new();
            m.insert("quantity".into(), Value::from(q));
            m.insert(if k == "quantity" { "quantity2".into() } else { k }, v);
            Value::Object(m).to_string().into_bytes()
        }),
        // Any JSON at all at the top.
        json_value().prop_map(|v| v.to_string().into_bytes()),
        // Truncated or corrupted JSON.
        (1..=limit, 0usize..14).prop_map(|(q, cut)| {
            let text = format!(r#"{{"quantity":{q}}}"#);
            text.as_bytes()[..cut.min(text.len() - 1)].to_vec()
        }),
        // Arbitrary bytes, unicode included.
        prop::collection::vec(any::<u8>(), 0..64),
        "\\PC{0,40}".prop_map(String::into_bytes),
        // Oversized: valid start, then megabytes of padding.
        (16_000usize..200_000)
            .prop_map(|n| format!(r#"{{"quantity":1,"pad":"{}"}}"#, "x".repeat(n)).into_bytes()),
    ]
    .prop_filter("a valid purchase", move |b| !is_valid_purchase(b, limit))
}

/// `Authorization` header values that are no valid buyer token.
pub fn bad_authorization(secret: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let known: Vec<String> = tokens::bad_tokens(secret, "alice")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let valid = tokens::buyer_with(secret, "alice");
    prop_oneof![
        prop::sample::select(known).prop_map(|t| format!("Bearer {t}").into_bytes()),
        // A valid token with one character changed.
        (
            0..valid.len(),
            prop::sample::select(vec!['A', 'z', '0', '-', '_', '.'])
        )
            .prop_filter_map("unchanged", move |(i, c)| {
                let mut t: Vec<char> = valid.chars().collect();
                (t[i] != c).then(|| {
                    t[i] = c;
                    format!("Bearer {}", t.into_iter().collect::<String>()).into_bytes()
                })
            }),
        "[ -~]{0,300}".prop_map(|s| format!("Bearer {s}").into_bytes()),
        "[ -~]{0,100}".prop_map(String::into_bytes),
        Just(b"Basic YWxpY2U6cGFzc3dvcmQ=".to_vec()),
        Just(b"Bearer".to_vec()),
        prop::collection::vec(128u8..=255, 1..40).prop_map(|v| [b"Bearer ".to_vec(), v].concat()),
    ]
}

/// Admin `Authorization` values that are not `Bearer <admin>`.
pub fn bad_admin_authorization(admin: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[!-~]{0,80}".prop_map(|s| format!("Bearer {s}")),
        (0..admin.len(), "[!-~]").prop_map(move |(i, c)| {
            let mut t = admin.to_owned();
            t.replace_range(i..=i, &c);
            format!("Bearer {t}")
        }),
        Just(format!("Bearer {}", &admin[..admin.len() - 1])),
        Just(format!("Bearer {admin}x")),
        Just(format!("Bearer {}", admin.to_uppercase())),
        Just(admin.to_owned()),
        Just(format!("Basic {admin}")),
        Just(format!("Bearer {}", crate::process::buyer("alice"))),
    ]
    .prop_filter("the admin token", move |v| v != &format!("Bearer {admin}"))
    .prop_map(String::into_bytes)
}

/// Whether `key` is a valid `Idempotency-Key` once HTTP has trimmed the
/// spaces and tabs around it: 1 to 128 visible ASCII characters.
pub fn is_valid_key(key: &[u8]) -> bool {
    let start = key.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = key.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => {
            let k = &key[s..=e];
            k.len() <= 128 && k.iter().all(|b| (b'!'..=b'~').contains(b))
        }
        _ => false,
    }
}

/// `Idempotency-Key` values the engine must refuse (not 1 to 128 visible
/// ASCII characters, once trimmed).
pub fn bad_idempotency_key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[!-~]{129,400}".prop_map(String::into_bytes),
        "[!-~]{0,20} [!-~]{0,20}".prop_map(String::into_bytes),
        "\\PC{1,20}"
            .prop_filter("visible ASCII", |s| !s
                .bytes()
                .all(|b| (b'!'..=b'~').contains(&b)))
            .prop_map(String::into_bytes),
        prop::collection::vec(128u8..=255, 1..20),
        Just(Vec::new()),
    ]
    .prop_filter("a valid key", |k| !is_valid_key(k))
}

/// Sale ids that are no sale: garbage, unicode, path tricks (sent
/// percent-encoded, so they stay one segment).
pub fn bad_sale_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{1,40}".prop_map(|s| percent_encode(s.as_bytes())),
        prop::collection::vec(any::<u8>(), 1..40).prop_map(|b| percent_encode(&b)),
        "[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        Just("..".to_owned()),
        Just("%2e%2e%2f%2e%2e%2fetc%2fpasswd".to_owned()),
        "[0-9]{1,30}",
    ]
}

/// Paths that try to leave the dashboard's folder or probe the API.
pub fn probing_path() -> impl Strategy<Value = Vec<u8>> {
    let segment = prop_oneof![
        Just("..".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("%2E%2E".to_owned()),
        Just("..%2f".to_owned()),
        Just("..%5c".to_owned()),
        Just("%252e%252e".to_owned()),
        Just(".%2e".to_owned()),
        Just("....".to_owned()),
        Just("%00".to_owned()),
        Just("%c0%ae%c0%ae".to_owned()),
        Just("secret.txt".to_owned()),
        Just("index.html".to_owned()),
        Just("assets".to_owned()),
        Just("api".to_owned()),
        Just("admin".to_owned()),
        Just("sales".to_owned()),
        Just("etc".to_owned()),
        Just("passwd".to_owned()),
        Just("".to_owned()),
        "\\PC{1,8}".prop_map(|s| percent_encode(s.as_bytes())),
    ];
    prop::collection::vec(segment, 1..8).prop_map(|segments| format!("/{}", segments.join("/")).into_bytes())
}

/// `n` order-queue bodies no consumer can store, generated from a fixed
/// seed: garbage bytes, any JSON, unknown versions, reservations that are
/// not reservations. Each must be dead-lettered.
pub fn poison_bodies(n: usize) -> Vec<Vec<u8>> {
    use proptest::strategy::ValueTree;
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (
            any::<u32>().prop_filter("the current version", |v| *v != 1),
            json_value()
        )
            .prop_map(|(v, r)| serde_json::json!({"v": v, "reservations": [r]})
                .to_string()
                .into_bytes()),
        prop::collection::vec(json_value(), 1..4).prop_map(|items| {
            serde_json::json!({"v": 1, "reservations": items})
                .to_string()
                .into_bytes()
        }),
    ];
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect()
}

//! The engine killed with SIGKILL in the middle of a stampede, and
//! restarted: every 202 answered before the kill is a confirmed order after
//! it, a retry with the same Idempotency-Key gets the first answer, and the
//! sale sells out to exactly its stock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use serde_json::json;
use tokio::sync::Mutex;

use crate::support::{buyer, data_dir, launch, open_sale, Client, ADMIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_answered_order() {
    let data = data_dir("kill9");
    let (mut engine, addr) = launch(&data, &[]).await;
    let sale = open_sale(addr, 3000, 1).await;

    // Buyers with an Idempotency-Key each, until the process dies under them.
    let accepted: Arc<Mutex<HashMap<String, (String, String)>>> = Arc::default();
    let buyers: Vec<_> = (0..24)
        .map(|t| {
            let (sale, accepted) = (sale.clone(), accepted.clone());
            tokio::spawn(async move {
                let mut c = Client::connect(addr).await;
                for n in 0.. {
                    let user = format!("b{t}-{n}");
                    let key = format!("k-{user}");
                    let token = buyer(&user);
                    let path = format!("/api/sales/{sale}/purchase");
                    let answer = tokio::time::timeout(
                        Duration::from_secs(5),
                        c.try_send(Method::POST, &path, &token, &key, json!({"quantity": 1})),
                    )
                    .await;
                    match answer {
                        Ok(Some((202, body))) => {
                            let id = body["order_id"].as_str().unwrap().to_owned();
                            accepted.lock().await.insert(id, (user, key));
                        }
                        Ok(Some(_)) => {}
                        _ => return, // the connection died with the engine
                    }
                }
            })
        })
        .collect();
    loop {
        if accepted.lock().await.len() >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    engine.start_kill().unwrap(); // SIGKILL
    engine.wait().await.unwrap();
    for b in buyers {
        b.await.unwrap();
    }
    let accepted = accepted.lock().await.clone();
    assert!(accepted.len() >= 300);

    let (mut engine, addr) = launch(&data, &[]).await;
    let mut c = Client::connect(addr).await;
    for (order, (user, key)) in &accepted {
        let (status, _, body) = c
            .send(
                Method::GET,
                &format!("/api/orders/{order}"),
                Some(&buyer(user)),
                &[],
                None,
            )
            .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("confirmed")),
            "answered order {order} lost"
        );
        // The buyer retries after the crash: the first answer again.
        let (status, _, again) = c
            .send(
                Method::POST,
                &format!("/api/sales/{sale}/purchase"),
                Some(&buyer(user)),
                &[("idempotency-key", key)],
                Some(json!({"quantity": 1})),
            )
            .await;
        assert_eq!((status, again["order_id"].as_str()), (202, Some(order.as_str())));
    }
    let (_, _, view) = c
        .send(Method::GET, &format!("/api/sales/{sale}"), None, &[], None)
        .await;
    let sold_before = view["sold"].as_u64().unwrap();
    assert!(sold_before >= accepted.len() as u64);

    // The sale goes on and sells out to exactly its stock.
    let mut sold_after = 0;
    for n in 0.. {
        let (status, _) = c.buy(&sale, &format!("after{n}"), 1, None).await;
        match status {
            202 => sold_after += 1,
            409 => break,
            other => panic!("unexpected {other}"),
        }
    }
    let (_, _, view) = c
        .send(Method::GET, &format!("/api/sales/{sale}"), None, &[], None)
        .await;
    assert_eq!(
        (view["sold"].as_u64(), view["remaining"].as_u64()),
        (Some(3000), Some(0))
    );
    assert_eq!(sold_before + sold_after, 3000);
    let (_, _, stats) = c
        .send(Method::GET, "/api/admin/stats", Some(ADMIN), &[], None)
        .await;
    assert_eq!(stats["sales"][0]["orders_persisted"], 3000, "{stats}");
    assert_eq!(stats["sales"][0]["ledger"]["ok"], true);

    // A graceful stop commits and exits 0.
    let pid = engine.id().unwrap();
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), engine.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful stop: {status}");
    let _ = std::fs::remove_dir_all(&data);
}

/// Two engines on one data folder would each hold the stock in memory and
/// sell the same units twice: the second refuses to start, with a clear
/// message and nothing changed, until the first one has stopped (or died:
/// the lock goes with the process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_engine_on_the_same_data_folder_refuses_to_start() {
    let data = data_dir("one-folder");
    let (mut first, addr) = launch(&data, &[]).await;
    let sale = open_sale(addr, 5, 1).await;
    let second = tokio::process::Command::new(env!("CARGO_BIN_EXE_flashsale"))
        .arg("up")
        .env("FLASHSALE_BIND", "127.0.0.1:0")
        .env("FLASHSALE_DATA_DIR", &data)
        .env("FLASHSALE_ADMIN_TOKEN", ADMIN)
        .env("FLASHSALE_JWT_SECRET", crate::support::JWT_SECRET)
        .output()
        .await
        .unwrap();
    assert!(
        !second.status.success(),
        "a second engine started on the same folder"
    );
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(said.contains("in use by another FlashSale engine"), "{said}");

    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let (mut again, addr) = launch(&data, &[]).await;
    let (status, _, view) = Client::connect(addr)
        .await
        .send(Method::GET, &format!("/api/sales/{sale}"), None, &[], None)
        .await;
    assert_eq!((status, view["remaining"].as_u64()), (200, Some(5)), "{view}");
    again.start_kill().unwrap();
    again.wait().await.unwrap();
}

/// The first lines `flashsale up` prints on `data`, with no admin token
/// given; the process is stopped once it has printed its banner.
async fn banner(data: &std::path::Path) -> String {
    banner_until(data, &[], "buyer token:").await
}

/// The lines `flashsale up` prints on `data` with `env`, up to the one
/// containing `last`.
async fn banner_until(data: &std::path::Path, env: &[(&str, &str)], last: &str) -> String {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_flashsale"))
        .arg("up")
        .env_clear()
        .env("FLASHSALE_BIND", "127.0.0.1:0")
        .env("FLASHSALE_DATA_DIR", data)
        .env("FLASHSALE_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        banner.push_str(&line);
        banner.push('\n');
        if line.contains(last) {
            break;
        }
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    banner
}

/// `FLASHSALE_LOG_FORMAT=json`: every log line on stderr is one JSON object
/// with a timestamp, a level and a message, and the fields flattened
/// beside them; an unknown format is refused before anything starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let data = data_dir("json-logs");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_flashsale"))
        .arg("up")
        .env_clear()
        .env("FLASHSALE_BIND", "127.0.0.1:0")
        .env("FLASHSALE_DATA_DIR", &data)
        .env("FLASHSALE_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("a log line")
        .unwrap()
        .expect("a log line");
    let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(entry["level"], "INFO", "{line}");
    assert!(entry["timestamp"].is_string(), "{line}");
    assert!(
        entry["message"]
            .as_str()
            .is_some_and(|m| m.contains("Engine started")),
        "{line}"
    );
    assert_eq!(entry["kind"], "System", "{line}");
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_flashsale"))
        .arg("up")
        .env_clear()
        .env("FLASHSALE_DATA_DIR", &data)
        .env("FLASHSALE_LOG_FORMAT", "xml")
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("FLASHSALE_LOG_FORMAT") || said.contains("log-format"),
        "{said}"
    );
}

/// Trace settings the engine cannot honour are refused before anything
/// starts, naming the variable: OTLP over gRPC (not built in), an exporter
/// other than OTLP. `OTEL_SDK_DISABLED=true` turns traces off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_settings_it_cannot_honour_are_refused() {
    let data = data_dir("otel-settings");
    for (variable, value) in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
    ] {
        let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_flashsale"))
            .arg("up")
            .env_clear()
            .env("FLASHSALE_BIND", "127.0.0.1:0")
            .env("FLASHSALE_DATA_DIR", &data)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
            .env(variable, value)
            .output()
            .await
            .unwrap();
        assert!(!refused.status.success(), "{variable}={value} was accepted");
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(said.contains(variable), "{said}");
    }
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
    let on = banner_until(&data, &[endpoint], "traces:").await;
    assert!(
        on.contains("traces: OTLP http/protobuf to http://127.0.0.1:4318"),
        "{on}"
    );
    let off = banner_until(&data, &[endpoint, ("OTEL_SDK_DISABLED", "true")], "traces:").await;
    assert!(off.contains("traces: off"), "{off}");
}

/// The admin token is printed once, when it is generated; later starts
/// name where it is kept, and `flashsale admin-url` prints the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_is_printed_only_when_generated() {
    let data = data_dir("admin-url");
    let first = banner(&data).await;
    let token = std::fs::read_to_string(data.join("admin_token")).unwrap();
    let token = token.trim();
    assert!(first.contains(&format!("#admin_token={token}")), "{first}");
    let second = banner(&data).await;
    assert!(!second.contains(token), "the token printed again: {second}");
    assert!(second.contains("flashsale admin-url"), "{second}");
    let url = tokio::process::Command::new(env!("CARGO_BIN_EXE_flashsale"))
        .args(["admin-url", "--bind", "127.0.0.1:9999"])
        .env_clear()
        .env("FLASHSALE_DATA_DIR", &data)
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&url.stdout).trim(),
        format!("http://127.0.0.1:9999/#admin_token={token}")
    );
}

//! Every status and error code of the HTTP contract, from a request that
//! should produce it; after every refused request, nothing changed.

use base64::Engine as _;
use hyper::Method;
use serde_json::{json, Value};

use crate::support::{buyer, code, settings, TestApp, ADMIN};

/// What a refused request must not change: the sale and the order count.
async fn snapshot(app: &TestApp, sale: &str) -> (Value, Value) {
    let mut sale = app.sale(sale).await;
    let stats = app.stats().await;
    sale.as_object_mut().unwrap().remove("created_at");
    (sale, stats["totals"]["orders_persisted"].clone())
}

/// Bad purchases get 400/401/404/409 with the error body, and change
/// nothing.
#[tokio::test]
async fn bad_purchases_are_refused_with_their_code_and_change_nothing() {
    let app = TestApp::start("contract-buy").await;
    let sale = app.active_sale(3, 2).await;
    let mut c = app.client().await;
    let path = format!("/api/sales/{sale}/purchase");
    let alice = buyer("alice");
    let before = snapshot(&app, &sale).await;

    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let now = chrono::Utc::now().timestamp();
    let alg_none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&format!(r#"{{"sub":"alice","exp":{}}}"#, now + 60))
    );
    let forged = {
        let user = flashsale_domain::UserId::parse("alice").unwrap();
        flashsale_gateway::auth::jwt::sign(b"not-the-engine-secret", &user, now, now + 60)
    };
    let expired = {
        let user = flashsale_domain::UserId::parse("alice").unwrap();
        flashsale_gateway::auth::jwt::sign(crate::support::JWT_SECRET.as_bytes(), &user, now - 120, now - 60)
    };
    let q1 = json!({"quantity": 1}).to_string().into_bytes();
    /// What, token, headers, body, expected status and code.
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Vec<(&'a str, &'a str)>,
        Vec<u8>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        ("no token", None, vec![], q1.clone(), 401, "unauthorized"),
        (
            "alg none",
            Some(&alg_none),
            vec![],
            q1.clone(),
            401,
            "unauthorized",
        ),
        ("forged", Some(&forged), vec![], q1.clone(), 401, "unauthorized"),
        ("expired", Some(&expired), vec![], q1.clone(), 401, "unauthorized"),
        (
            "garbage token",
            Some("a.b.c"),
            vec![],
            q1.clone(),
            401,
            "unauthorized",
        ),
        (
            "not json",
            Some(&alice),
            vec![],
            b"{quantity:1".to_vec(),
            400,
            "invalid_request",
        ),
        ("empty body", Some(&alice), vec![], vec![], 400, "invalid_request"),
        (
            "zero",
            Some(&alice),
            vec![],
            br#"{"quantity":0}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "negative",
            Some(&alice),
            vec![],
            br#"{"quantity":-1}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "fraction",
            Some(&alice),
            vec![],
            br#"{"quantity":1.5}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "string",
            Some(&alice),
            vec![],
            br#"{"quantity":"1"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "huge",
            Some(&alice),
            vec![],
            br#"{"quantity":99999999999999999999999}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "above limit",
            Some(&alice),
            vec![],
            br#"{"quantity":3}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "unknown field",
            Some(&alice),
            vec![],
            br#"{"quantity":1,"price":0}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "oversized",
            Some(&alice),
            vec![],
            format!(r#"{{"quantity":1,"pad":"{}"}}"#, "x".repeat(20_000)).into_bytes(),
            400,
            "invalid_request",
        ),
        (
            "bad key",
            Some(&alice),
            vec![("idempotency-key", "has space")],
            q1.clone(),
            400,
            "invalid_request",
        ),
    ];
    for (what, token, headers, body, status, expected) in cases {
        let (got, _, answer) = c.send_raw(Method::POST, &path, token, &headers, body).await;
        assert_eq!((got, code(&answer)), (status, expected), "{what}: {answer}");
        assert!(
            answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: no message"
        );
    }
    let (status, body) = c.buy("%80", "alice", 1, None).await;
    assert_eq!(
        (status, code(&body)),
        (404, "sale_not_found"),
        "a segment that is not UTF-8"
    );
    let (status, body) = c.buy("not-a-uuid", "alice", 1, None).await;
    assert_eq!((status, code(&body)), (404, "sale_not_found"));
    let (status, body) = c.buy(&uuid_v7(), "alice", 1, None).await;
    assert_eq!((status, code(&body)), (404, "sale_not_found"));
    assert_eq!(
        snapshot(&app, &sale).await,
        before,
        "a refused request changed something"
    );

    // 409s: limit, sold out, not active.
    assert_eq!(c.buy(&sale, "alice", 2, None).await.0, 202);
    let (status, body) = c.buy(&sale, "alice", 1, None).await;
    assert_eq!((status, code(&body)), (409, "limit_exceeded"));
    assert_eq!(c.buy(&sale, "bob", 1, None).await.0, 202);
    let (status, body) = c.buy(&sale, "carol", 1, None).await;
    assert_eq!((status, code(&body)), (409, "sold_out"));
    let scheduled = app.create_sale(5, 1).await;
    let (status, body) = c.buy(&scheduled, "alice", 1, None).await;
    assert_eq!((status, code(&body)), (409, "sale_not_active"));
    let view = app.sale(&sale).await;
    assert_eq!(
        (
            view["remaining"].as_u64(),
            view["sold"].as_u64(),
            view["status"].as_str()
        ),
        (Some(0), Some(3), Some("sold_out"))
    );
    app.stop().await;
}

fn uuid_v7() -> String {
    flashsale_domain::SaleId::generate().to_string()
}

/// Orders: readable by their buyer only; 401 without a token, 404 for
/// another buyer's, a malformed or an unknown id.
#[tokio::test]
async fn orders_are_private_to_their_buyer() {
    let app = TestApp::start("contract-orders").await;
    let sale = app.active_sale(5, 1).await;
    let mut c = app.client().await;
    let (status, accepted) = c.buy(&sale, "alice", 1, None).await;
    assert_eq!(status, 202);
    assert_eq!(accepted["status"], "pending");
    assert_eq!(accepted["remaining"], 4);
    let order = format!("/api/orders/{}", accepted["order_id"].as_str().unwrap());
    let (status, _, body) = c
        .send(Method::GET, &order, Some(&buyer("alice")), &[], None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["status"].as_str(),
            body["quantity"].as_u64(),
            body["user_id"].as_str()
        ),
        (Some("confirmed"), Some(1), Some("alice"))
    );
    assert_eq!(body["sale_id"].as_str(), Some(sale.as_str()));
    for (path, token, status, expected) in [
        (order.clone(), None, 401, "unauthorized"),
        (order.clone(), Some(buyer("mallory")), 404, "order_not_found"),
        (
            "/api/orders/../../etc/passwd".to_owned(),
            Some(buyer("alice")),
            404,
            "not_found",
        ),
        (
            "/api/orders/xyz".to_owned(),
            Some(buyer("alice")),
            404,
            "order_not_found",
        ),
        (
            format!("/api/orders/{}", uuid_v7()),
            Some(buyer("alice")),
            404,
            "order_not_found",
        ),
    ] {
        let (got, _, body) = c.send(Method::GET, &path, token.as_deref(), &[], None).await;
        assert_eq!((got, code(&body)), (status, expected), "{path}");
    }
    // Embedded, every answered order is committed before its 202: the ledger
    // has decided it, so an operator's void is refused and changes nothing.
    let void = format!("{order}/void").replace("/api/orders/", "/api/admin/orders/");
    for (path, token, status, expected) in [
        (void.clone(), None, 401, "unauthorized"),
        (void.clone(), Some(ADMIN), 409, "invalid_transition"),
        (
            format!("/api/admin/orders/{}/void", uuid_v7()),
            Some(ADMIN),
            404,
            "order_not_found",
        ),
        (
            "/api/admin/orders/xyz/void".to_owned(),
            Some(ADMIN),
            404,
            "order_not_found",
        ),
    ] {
        let (got, _, body) = c.send(Method::POST, &path, token, &[], None).await;
        assert_eq!((got, code(&body)), (status, expected), "{path}");
    }
    let (_, _, body) = c
        .send(Method::GET, &order, Some(&buyer("alice")), &[], None)
        .await;
    assert_eq!(body["status"], "confirmed", "a refused void changes nothing");
    assert_eq!(app.sale(&sale).await["remaining"], 4);
    app.stop().await;
}

/// Admin endpoints: 401 without or with a wrong token, 400 for each bad
/// field, 409 for a transition the state does not allow, 404 for an
/// unknown sale; stock top-up and withdrawal bounded by what remains.
#[tokio::test]
async fn admin_endpoints_validate_and_authorise() {
    let app = TestApp::start("contract-admin").await;
    let mut c = app.client().await;
    let good =
        json!({"name": "Noon", "product": "Lamp", "price_cents": 100, "stock": 10, "per_user_limit": 2});
    for token in [None, Some("wrong-token"), Some("")] {
        let (status, _, body) = c
            .send(Method::POST, "/api/admin/sales", token, &[], Some(good.clone()))
            .await;
        assert_eq!((status, code(&body)), (401, "unauthorized"));
        let (status, _, _) = c.send(Method::GET, "/api/admin/stats", token, &[], None).await;
        assert_eq!(status, 401);
    }
    for (field, value) in [
        ("name", json!("")),
        ("name", json!("x".repeat(121))),
        ("product", json!(null)),
        ("price_cents", json!(-1)),
        ("stock", json!(0)),
        ("stock", json!("10")),
        ("per_user_limit", json!(0)),
        ("starts_at", json!("tomorrow")),
    ] {
        let mut body = good.clone();
        body[field] = value.clone();
        let (status, _, answer) = c
            .send(Method::POST, "/api/admin/sales", Some(ADMIN), &[], Some(body))
            .await;
        assert_eq!(
            (status, code(&answer)),
            (400, "invalid_request"),
            "{field} = {value}"
        );
    }
    let mut window = good.clone();
    window["starts_at"] = json!("2030-01-01T10:00:00Z");
    window["ends_at"] = json!("2030-01-01T09:00:00Z");
    let (status, _, answer) = c
        .send(Method::POST, "/api/admin/sales", Some(ADMIN), &[], Some(window))
        .await;
    assert_eq!(
        (status, code(&answer)),
        (400, "invalid_request"),
        "ends before it starts"
    );
    let (status, _, body) = c.send(Method::GET, "/api/sales", None, &[], None).await;
    assert_eq!(
        (status, body.as_array().map(Vec::len)),
        (200, Some(0)),
        "refused creations created nothing"
    );

    let sale = app.create_sale(10, 2).await;
    let app = &app;
    let post = |path: String| async move {
        app.client()
            .await
            .send(Method::POST, &path, Some(ADMIN), &[], None)
            .await
    };
    for (action, status, expected) in [
        ("pause", 409, "invalid_transition"),
        ("resume", 409, "invalid_transition"),
        ("fly", 404, "not_found"),
    ] {
        let (got, _, body) = post(format!("/api/admin/sales/{sale}/{action}")).await;
        assert_eq!((got, code(&body)), (status, expected), "{action}");
    }
    let (got, _, body) = post(format!("/api/admin/sales/{}/start", uuid_v7())).await;
    assert_eq!((got, code(&body)), (404, "sale_not_found"));
    let (got, _, body) = post("/api/admin/sales/nope/start".into()).await;
    assert_eq!((got, code(&body)), (404, "sale_not_found"));
    for (action, status) in [("start", "active"), ("pause", "paused"), ("resume", "active")] {
        let (got, _, body) = post(format!("/api/admin/sales/{sale}/{action}")).await;
        assert_eq!((got, body["status"].as_str()), (200, Some(status)), "{action}");
    }
    let (got, _, body) = post(format!("/api/admin/sales/{sale}/start")).await;
    assert_eq!(
        (got, code(&body)),
        (409, "invalid_transition"),
        "start an active sale"
    );

    let stock = format!("/api/admin/sales/{sale}/stock");
    let mut c = app.client().await;
    for (add, status, expected) in [
        (json!(-11), 400, "invalid_request"),
        (json!(0), 400, "invalid_request"),
        (json!("5"), 400, "invalid_request"),
    ] {
        let (got, _, body) = c
            .send(Method::POST, &stock, Some(ADMIN), &[], Some(json!({"add": add})))
            .await;
        assert_eq!((got, code(&body)), (status, expected), "add {add}");
    }
    let (got, _, body) = c
        .send(Method::POST, &stock, Some(ADMIN), &[], Some(json!({"add": 5})))
        .await;
    assert_eq!(
        (got, body["stock"].as_u64(), body["remaining"].as_u64()),
        (200, Some(15), Some(15))
    );
    let (got, _, body) = c
        .send(Method::POST, &stock, Some(ADMIN), &[], Some(json!({"add": -15})))
        .await;
    assert_eq!(
        (got, body["stock"].as_u64(), body["status"].as_str()),
        (200, Some(0), Some("sold_out"))
    );
    app.admin(&format!("/api/admin/sales/{sale}/end"), None).await;
    let (got, _, body) = c
        .send(Method::POST, &stock, Some(ADMIN), &[], Some(json!({"add": 5})))
        .await;
    assert_eq!(
        (got, code(&body)),
        (409, "invalid_transition"),
        "stock of an ended sale"
    );
    let (got, _, body) = c
        .send(Method::POST, "/api/admin/cache/flush", Some(ADMIN), &[], None)
        .await;
    assert_eq!((got, body["flushed"].as_bool()), (200, Some(true)));
}

/// Per-user and per-IP limits answer 429 with `Retry-After`; shedding
/// answers 503 `overloaded` with `Retry-After`; nothing oversells.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_load_shedding() {
    let mut limited = settings("contract-limits");
    limited.rate_per_user = 2;
    let app = TestApp::spawn(limited).await;
    let sale = app.active_sale(100, 100).await;
    let mut c = app.client().await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        let token = buyer("eager");
        let (status, headers, body) = c
            .send(
                Method::POST,
                &format!("/api/sales/{sale}/purchase"),
                Some(&token),
                &[],
                Some(json!({"quantity": 1})),
            )
            .await;
        if status == 429 {
            assert_eq!(code(&body), "rate_limited");
            let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!(wait >= 1);
            // The IETF draft's fields: the policy, and nothing left until
            // the wait is over.
            assert_eq!(headers["ratelimit-policy"], "\"per-user\";q=2;w=1");
            assert_eq!(
                headers["ratelimit"].to_str().unwrap(),
                format!("\"per-user\";r=0;t={wait}")
            );
        }
        codes.push(status);
    }
    assert_eq!(
        codes.iter().filter(|s| **s == 202).count(),
        2,
        "burst of 2 per user: {codes:?}"
    );
    assert_eq!(
        c.buy(&sale, "patient", 1, None).await.0,
        202,
        "other buyers are not limited"
    );
    app.stop().await;

    let mut per_ip = settings("contract-ip");
    per_ip.rate_per_ip = 3;
    let app = TestApp::spawn(per_ip).await;
    let mut c = app.client().await;
    let statuses: Vec<u16> = futures_statuses(&mut c, 6).await;
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 3, "{statuses:?}");
    let (status, _, _) = c.send(Method::GET, "/api/health", None, &[], None).await;
    assert_eq!(status, 200, "health is not rate limited");
    app.stop().await;

    let mut tight = settings("contract-shed");
    tight.max_in_flight = 1;
    let app = TestApp::spawn(tight).await;
    let sale = app.active_sale(1_000, 1).await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let addr = app.addr;
            let sale = sale.clone();
            tokio::spawn(async move {
                let mut c = crate::support::Client::connect(addr).await;
                let token = buyer(&format!("shed{i}"));
                let (status, headers, body) = c
                    .send(
                        Method::POST,
                        &format!("/api/sales/{sale}/purchase"),
                        Some(&token),
                        &[],
                        Some(json!({"quantity": 1})),
                    )
                    .await;
                if status == 503 {
                    assert_eq!(code(&body), "overloaded");
                    assert_eq!(headers["retry-after"], "1");
                }
                status
            })
        })
        .collect();
    let mut accepted = 0;
    let mut shed = 0;
    for t in tasks {
        match t.await.unwrap() {
            202 => accepted += 1,
            503 => shed += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(shed > 0, "nothing was shed with one purchase slot");
    assert_eq!(app.sale(&sale).await["sold"].as_u64(), Some(accepted));
    app.stop().await;
}

async fn futures_statuses(c: &mut crate::support::Client, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(c.send(Method::GET, "/api/sales", None, &[], None).await.0);
    }
    out
}

/// Health, metrics, OpenAPI, the dashboard fallback and unknown paths.
#[tokio::test]
async fn operations_endpoints() {
    let app = TestApp::start("contract-ops").await;
    let sale = app.active_sale(2, 1).await;
    let mut c = app.client().await;
    c.buy(&sale, "alice", 1, None).await;
    let (status, _, health) = c.send(Method::GET, "/api/health", None, &[], None).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")), "{health}");
    for name in ["gateway", "product", "inventory", "order", "sqlite"] {
        assert_eq!(health["components"][name]["status"], "ok", "{name}");
    }
    let (status, _, live) = c.send(Method::GET, "/livez", None, &[], None).await;
    assert_eq!(
        (status, live.to_string()),
        (200, r#"{"status":"alive"}"#.to_owned())
    );
    let (status, _, ready) = c.send(Method::GET, "/readyz", None, &[], None).await;
    assert_eq!(
        (status, ready.to_string()),
        (200, r#"{"status":"ready"}"#.to_owned())
    );
    let (status, _, openapi) = c.send(Method::GET, "/api/openapi.json", None, &[], None).await;
    assert_eq!(status, 200);
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/sales",
        "/api/sales/{id}",
        "/api/sales/{id}/purchase",
        "/api/orders/{order_id}",
        "/api/health",
        "/livez",
        "/readyz",
        "/api/admin/sales",
        "/api/admin/sales/{id}/{action}",
        "/api/admin/sales/{id}/stock",
        "/api/admin/cache/flush",
        "/api/admin/stats",
        "/api/admin/events",
        "/metrics",
        "/api/openapi.json",
    ] {
        assert!(openapi["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    let (status, _, body) = c.send(Method::GET, "/api/nothing/here", None, &[], None).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, headers, body) = c.send(Method::DELETE, "/metrics", None, &[], None).await;
    assert_eq!((status, code(&body)), (405, "method_not_allowed"), "{body}");
    assert_eq!(headers["allow"], "GET,HEAD");
    let (status, _, _) = c.send(Method::GET, "/", None, &[], None).await;
    assert_eq!(status, 200, "the dashboard page (or its build hint)");
    let stats = app.stats().await;
    assert_eq!(stats["sales"][0]["ledger"]["ok"], true);
    assert_eq!(stats["totals"]["orders_persisted"], 1);
    let (status, metrics) = c
        .read_stream("/metrics", &["flashsale_purchase_duration_seconds_count"])
        .await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("flashsale_purchases_total{outcome=\"accepted\"} 1"),
        "{metrics}"
    );
    for gauge in [
        format!("flashsale_sale_remaining_units{{sale=\"{sale}\"}} 1\n"),
        format!("flashsale_sale_ledger_difference{{sale=\"{sale}\"}} 0\n"),
    ] {
        assert!(metrics.contains(&gauge), "{gauge} missing from {metrics}");
    }
    app.stop().await;
}

/// The SSE stream: refused without the admin token; with it (in the query,
/// as EventSource sends it), the recent log events, then stats every second.
#[tokio::test]
async fn event_stream_replays_the_log_and_pushes_stats() {
    let app = TestApp::start("contract-sse").await;
    app.active_sale(1, 1).await;
    let mut c = app.client().await;
    let (status, _) = c.read_stream("/api/admin/events?token=wrong", &[]).await;
    assert_eq!(status, 401);
    let mut c = app.client().await;
    let (status, text) = c
        .read_stream(
            &format!("/api/admin/events?token={ADMIN}"),
            &["event: log", "sale_state", "event: stats"],
        )
        .await;
    assert_eq!(status, 200);
    let stats_line = text
        .lines()
        .skip_while(|l| *l != "event: stats")
        .nth(1)
        .expect("stats data");
    let stats: Value = serde_json::from_str(stats_line.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(stats["mode"], "embedded");
    assert_eq!(stats["sales"][0]["stock"], 1);
    app.stop().await;
}

/// Buyer tokens under the operator's rules: a secret shorter than 32 bytes
/// refuses to start; with an issuer and an audience required, a token
/// without them, or living longer than the longest lifetime, is 401 and
/// changes nothing; `flashsale token`'s kind passes.
#[tokio::test]
async fn jwt_rules_are_enforced() {
    let mut weak = settings("jwt-weak");
    weak.jwt_secret = Some("too-short-a-secret".into());
    let refused = flashsale::Engine::start(&weak)
        .await
        .err()
        .expect("a weak secret is refused");
    assert!(refused.to_string().contains("at least 32"), "{refused}");

    let mut s = settings("jwt-rules");
    s.jwt.issuer = Some("shop.example".into());
    s.jwt.audience = Some("flashsale".into());
    s.jwt.max_ttl = std::time::Duration::from_secs(3600);
    let rules = s.jwt.rules();
    let app = TestApp::spawn(s).await;
    let sale = app.active_sale(5, 1).await;
    let now = chrono::Utc::now().timestamp();
    let user = flashsale_domain::UserId::parse("alice").unwrap();
    let secret = crate::support::JWT_SECRET.as_bytes();
    let sign = |exp: i64, rules: &flashsale_gateway::auth::jwt::Rules| {
        flashsale_gateway::auth::jwt::sign_for(secret, &user, now, now + exp, rules)
    };
    let mut c = app.client().await;
    let path = format!("/api/sales/{sale}/purchase");
    let body = Some(json!({"quantity": 1}));
    for (why, token) in [
        ("no issuer nor audience", sign(600, &Default::default())),
        ("a day long", sign(86_400, &rules)),
    ] {
        let (status, _, answer) = c.send(Method::POST, &path, Some(&token), &[], body.clone()).await;
        assert_eq!((status, code(&answer)), (401, "unauthorized"), "{why}: {answer}");
    }
    assert_eq!(app.sale(&sale).await["sold"], 0, "refused tokens change nothing");
    let (status, _, answer) = c
        .send(Method::POST, &path, Some(&sign(600, &rules)), &[], body)
        .await;
    assert_eq!(status, 202, "{answer}");
    app.stop().await;
}

/// Buyers signed in by the shop's identity provider: its RS256 and ES256
/// tokens buy, checked against the keys its JWKS publishes; the engine's
/// own HS256 tokens are off the default allow-list then, and every forgery
/// is 401 with nothing sold. Settings that cannot work refuse to start.
#[tokio::test]
async fn buyers_signed_in_by_an_identity_provider_buy_with_its_tokens() {
    use flashsale_testkit::idp::{self, TestKey};
    const ISSUER: &str = "https://idp.shop.test/";
    const AUDIENCE: &str = "flashsale-api";

    let mut wrong = settings("jwks-wrong");
    wrong.jwt.algorithms = Some("RS256".into());
    let refused = flashsale::Engine::start(&wrong)
        .await
        .err()
        .expect("RS256 without keys is refused");
    assert!(
        refused.to_string().contains("FLASHSALE_JWT_JWKS_URL"),
        "{refused}"
    );

    let provider = idp::JwksServer::start(&[TestKey::RsaA, TestKey::EcC])
        .await
        .unwrap();

    let mut s = settings("jwks");
    s.jwt.jwks_url = Some(provider.url.clone());
    s.jwt.issuer = Some(ISSUER.into());
    s.jwt.audience = Some(AUDIENCE.into());
    let app = TestApp::spawn(s).await;
    let sale = app.active_sale(10, 1).await;
    let path = format!("/api/sales/{sale}/purchase");
    let body = Some(json!({"quantity": 1}));
    let mut c = app.client().await;
    let mut refused = vec![("the engine's own HS256".to_owned(), buyer("mallory"))];
    refused.extend(
        idp::forged("mallory", ISSUER, AUDIENCE)
            .into_iter()
            .map(|(w, t)| (w.to_owned(), t)),
    );
    for (why, token) in refused {
        let (status, _, answer) = c.send(Method::POST, &path, Some(&token), &[], body.clone()).await;
        assert_eq!((status, code(&answer)), (401, "unauthorized"), "{why}: {answer}");
    }
    assert_eq!(app.sale(&sale).await["sold"], 0, "refused tokens change nothing");
    for (user, key) in [("alice", TestKey::RsaA), ("bob", TestKey::EcC)] {
        let token = key.sign(&idp::claims(user, ISSUER, AUDIENCE));
        let (status, _, answer) = c.send(Method::POST, &path, Some(&token), &[], body.clone()).await;
        assert_eq!(status, 202, "{user} with {key:?}: {answer}");
    }
    assert_eq!(app.sale(&sale).await["sold"], 2);
    app.stop().await;
}

/// `?token=` carries the admin token on the SSE stream only (EventSource
/// cannot set headers); every other admin route wants the header.
#[tokio::test]
async fn the_admin_token_in_the_query_opens_only_the_event_stream() {
    let app = TestApp::start("token-query").await;
    let mut c = app.client().await;
    for (method, path) in [
        (Method::POST, format!("/api/admin/cache/flush?token={ADMIN}")),
        (Method::GET, format!("/api/admin/stats?token={ADMIN}")),
    ] {
        let (status, _, body) = c.send(method, &path, None, &[], None).await;
        assert_eq!((status, code(&body)), (401, "unauthorized"), "{path}");
    }
    let (status, _) = c
        .read_stream(&format!("/api/admin/events?token={ADMIN}"), &["event: "])
        .await;
    assert_eq!(status, 200);
    app.stop().await;
}

/// Follows the listing's `Link` headers from `first`; returns the sale ids
/// of every page, page by page.
async fn pages(c: &mut crate::support::Client, first: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(url) = next.take() {
        let (status, headers, body) = c.send(Method::GET, &url, None, &[], None).await;
        assert_eq!(status, 200, "{url}: {body}");
        let ids = body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned());
        pages.push(ids.collect());
        next = headers.get("link").map(|link| {
            let link = link.to_str().unwrap();
            assert!(link.ends_with(">; rel=\"next\""), "{link}");
            link[1..link.find('>').unwrap()].to_owned()
        });
        assert!(pages.len() < 50, "the Link headers loop");
    }
    pages
}

/// The listing pages through every sale in creation order, each once, by
/// `Link` headers; `?status=` keeps one status across pages; bad parameters
/// are refused with `invalid_request`.
#[tokio::test]
async fn the_listing_filters_and_pages() {
    let app = TestApp::start("listing").await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(if i % 2 == 0 {
            app.active_sale(5, 1).await
        } else {
            app.create_sale(5, 1).await
        });
    }
    let mut c = app.client().await;
    let all = pages(&mut c, "/api/sales?limit=3").await;
    assert_eq!(all.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(all.concat(), created, "every sale once, oldest first");
    let (_, headers, whole) = c.send(Method::GET, "/api/sales", None, &[], None).await;
    assert_eq!(whole.as_array().unwrap().len(), 7);
    assert!(headers.get("link").is_none(), "one page holds them all");

    let active = pages(&mut c, "/api/sales?status=active&limit=2").await;
    let expected: Vec<String> = created.iter().step_by(2).cloned().collect();
    assert_eq!(active.concat(), expected);
    assert!(active.iter().all(|p| p.len() <= 2));
    let scheduled = pages(&mut c, "/api/sales?status=scheduled").await.concat();
    assert_eq!(scheduled.len(), 3);

    for bad in [
        "/api/sales?limit=0",
        "/api/sales?limit=1001",
        "/api/sales?limit=ten",
        "/api/sales?status=gone",
        "/api/sales?cursor=not-an-id",
    ] {
        let (status, _, body) = c.send(Method::GET, bad, None, &[], None).await;
        assert_eq!((status, code(&body)), (400, "invalid_request"), "{bad}: {body}");
    }
    app.stop().await;
}

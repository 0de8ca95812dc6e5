//! `flashsale pay ORDER_ID`: sends the engine a payment event signed as a
//! payment provider would (`FlashSale-Signature`), for demos, scripts and
//! tests. The amount is the order's, read with the admin token, unless
//! given.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use flashsale_gateway::payments::{self, PaymentEvent, PaymentEventType};
use flashsale_testkit::http::{authority, Conn};
use hyper::Method;

/// Arguments of `flashsale pay`.
#[derive(Debug, Clone, Args)]
pub struct PayArgs {
    /// The order to pay.
    pub order_id: String,
    /// Sends `payment.failed` instead of `payment.succeeded`.
    #[arg(long)]
    pub fail: bool,
    /// The engine (a gateway).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// The amount paid, in cents [default: the order's price].
    #[arg(long)]
    pub amount_cents: Option<i64>,
    /// The webhook's secret, as the engine has it.
    #[arg(long, env = "FLASHSALE_PAYMENT_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Reads the order's price; defaults to the one kept in the data folder.
    #[arg(long, env = "FLASHSALE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    #[arg(long, env = "FLASHSALE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends the event; returns the engine's answer (status and body) when it
/// accepted it.
pub async fn pay(args: &PayArgs) -> Result<String, String> {
    let secret = args.secret.as_deref().filter(|s| !s.is_empty()).ok_or(
        "no webhook secret: set FLASHSALE_PAYMENT_WEBHOOK_SECRET (or --secret) as the engine has it",
    )?;
    let mut conn = Conn::new(authority(&args.target)?);
    let amount = match args.amount_cents {
        Some(amount) => amount,
        None => price(&mut conn, args).await?,
    };
    let event = PaymentEvent {
        id: format!("evt_{}", uuid::Uuid::now_v7()),
        kind: if args.fail {
            PaymentEventType::Failed
        } else {
            PaymentEventType::Succeeded
        },
        order_id: args.order_id.clone(),
        amount_cents: amount,
    };
    let body = serde_json::to_vec(&event).map_err(|e| e.to_string())?;
    let signature = payments::sign(secret, chrono::Utc::now().timestamp(), &body);
    let answer = conn
        .request(
            Method::POST,
            "/api/payments/webhook",
            &[
                ("content-type", "application/json"),
                ("flashsale-signature", &signature),
            ],
            Some(body.into()),
            Some(TIMEOUT),
        )
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    if answer.status == 200 {
        Ok(text)
    } else {
        Err(format!("the engine answered {}: {text}", answer.status))
    }
}

/// The order's price: its sale's price × its quantity.
async fn price(conn: &mut Conn, args: &PayArgs) -> Result<i64, String> {
    let token = match args.admin_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => token.to_owned(),
        None => crate::secrets::read_stored(&args.data_dir, crate::secrets::ADMIN_TOKEN_FILE)
            .map_err(|e| e.to_string())?
            .ok_or(
                "no admin token to read the order's price: set FLASHSALE_ADMIN_TOKEN, or give --amount-cents",
            )?,
    };
    let bearer = format!("Bearer {token}");
    let path = format!("/api/admin/orders/{}", args.order_id);
    let order = conn
        .request(
            Method::GET,
            &path,
            &[("authorization", &bearer)],
            None,
            Some(TIMEOUT),
        )
        .await
        .map_err(|e| e.to_string())?;
    if order.status != 200 {
        return Err(format!(
            "cannot read order {}: {} {}",
            args.order_id,
            order.status,
            String::from_utf8_lossy(&order.body)
        ));
    }
    let order = order.json();
    let sale = conn
        .request(
            Method::GET,
            &format!("/api/sales/{}", order["sale_id"].as_str().unwrap_or_default()),
            &[],
            None,
            Some(TIMEOUT),
        )
        .await
        .map_err(|e| e.to_string())?;
    let sale = sale.json();
    match (sale["price_cents"].as_i64(), order["quantity"].as_i64()) {
        (Some(price), Some(quantity)) => Ok(price.saturating_mul(quantity)),
        _ => Err(format!("cannot read the price of order {}", args.order_id)),
    }
}

//! The OpenAPI document, assembled from the handlers' annotations.

use axum::response::IntoResponse;
use axum::Json;
use flashsale_domain::{ComponentHealth, HealthStatus};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::dto;
use crate::error::{ErrorBody, ErrorCode, ErrorDetail};
use crate::payments;
use crate::routes::{admin, buyer, checkout, ops};

#[derive(OpenApi)]
#[openapi(
    info(title = "FlashSale", description = "Sells every unit exactly once, to verified buyers, within their limit."),
    paths(
        buyer::list_sales, buyer::get_sale, buyer::live_sale, buyer::purchase, buyer::get_order,
        checkout::pay_order, checkout::cancel_order, checkout::payment_webhook,
        admin::create_sale, admin::transition, admin::change_stock, admin::flush_cache, admin::get_order, admin::void_order,
        admin::launch_stampede, admin::stats,
        ops::health, ops::livez, ops::readyz, ops::metrics, ops::events, openapi,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, ErrorCode, dto::SaleDto, dto::PurchaseRequest, dto::PurchaseAccepted, dto::OrderDto,
        dto::CreateSaleRequest, dto::StockChangeRequest, dto::StampedeRequest, dto::StampedeStarted,
        dto::FlushResult, dto::Stats, dto::Totals, dto::SaleStats, dto::DrawDto, dto::LedgerCheck, dto::Health, dto::Probe,
        ComponentHealth, HealthStatus, payments::PaymentEvent, payments::PaymentEventType,
        payments::PaymentEventOutcome, payments::PaymentEventAnswer,
    )),
    modifiers(&Security),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |format: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format(format)
                    .build(),
            )
        };
        components.add_security_scheme("buyer_jwt", bearer("JWT"));
        components.add_security_scheme("admin_token", bearer("opaque"));
    }
}

/// The OpenAPI 3 document of this API, generated from the handlers.
#[utoipa::path(get, path = "/api/openapi.json", tag = "ops", responses((status = 200, description = "OpenAPI 3 JSON")))]
pub async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// The OpenAPI document as pretty JSON: what `flashsale openapi` prints and
/// the dashboard's API types are generated from.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
}

#[cfg(test)]
mod tests {
    /// The dashboard's copy, from which its API types are generated.
    const DASHBOARD_COPY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../dashboard/src/api/openapi.json"
    );

    /// The dashboard's types cannot drift from the API: its copy of the
    /// document is this one (`FLASHSALE_UPDATE_OPENAPI=1` rewrites it; then
    /// `npm run api:types` in dashboard/).
    #[test]
    fn the_dashboard_copy_is_current() {
        let now = format!("{}\n", super::document());
        if std::env::var_os("FLASHSALE_UPDATE_OPENAPI").is_some() {
            std::fs::write(DASHBOARD_COPY, &now).unwrap();
        }
        let copy = std::fs::read_to_string(DASHBOARD_COPY).unwrap_or_default();
        assert!(
            copy == now,
            "dashboard/src/api/openapi.json is stale: run FLASHSALE_UPDATE_OPENAPI=1 cargo test -p flashsale-gateway the_dashboard_copy, then npm run api:types in dashboard/"
        );
    }

    /// The bounds the document states are the ones the domain enforces: a
    /// client that validates by the document (the dashboard's forms do)
    /// sends nothing the engine refuses for a bound, and misses none.
    #[test]
    fn documented_bounds_are_the_domains() {
        use flashsale_domain::{Quantity, SaleDraft};
        let doc: serde_json::Value = serde_json::from_str(&super::document()).unwrap();
        let bounds = |schema: &str, field: &str| {
            let f = &doc["components"]["schemas"][schema]["properties"][field];
            (f["minimum"].as_i64(), f["maximum"].as_i64())
        };
        let draw = i64::from(SaleDraft::MAX_DRAW_WINDOW_SECONDS);
        let stock = SaleDraft::MAX_STOCK as i64;
        for (schema, field, expected) in [
            ("CreateSaleRequest", "stock", (1, stock)),
            (
                "CreateSaleRequest",
                "per_user_limit",
                (1, i64::from(SaleDraft::MAX_PER_USER_LIMIT)),
            ),
            (
                "CreateSaleRequest",
                "price_cents",
                (0, SaleDraft::MAX_PRICE_CENTS as i64),
            ),
            (
                "CreateSaleRequest",
                "payment_window_seconds",
                (0, i64::from(SaleDraft::MAX_PAYMENT_WINDOW_SECONDS)),
            ),
            ("CreateSaleRequest", "prequeue_seconds", (0, draw)),
            ("CreateSaleRequest", "fair_start_seconds", (0, draw)),
            (
                "CreateSaleRequest",
                "stock_buckets",
                (1, i64::from(SaleDraft::MAX_STOCK_BUCKETS)),
            ),
            ("StockChangeRequest", "add", (-stock, stock)),
            ("PurchaseRequest", "quantity", (1, i64::from(Quantity::MAX))),
            ("StampedeRequest", "quantity", (1, i64::from(Quantity::MAX))),
        ] {
            assert_eq!(
                bounds(schema, field),
                (Some(expected.0), Some(expected.1)),
                "{schema}.{field}"
            );
        }
    }

    /// Code generators (the dashboard's among them) name a function per
    /// operation: two handlers of one name would clash.
    #[test]
    fn operation_ids_are_unique() {
        let doc: serde_json::Value = serde_json::from_str(&super::document()).unwrap();
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "an operationId is used twice");
    }
}

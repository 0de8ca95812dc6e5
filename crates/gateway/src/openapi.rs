//! The OpenAPI document, assembled from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::dto;
use crate::error::{ErrorBody, ErrorDetail};
use crate::health::{ComponentHealth, HealthStatus};
use crate::routes::{admin, buyer, ops};

#[derive(OpenApi)]
#[openapi(
    info(title = "FlashSale", description = "Sells every unit exactly once, to verified buyers, within their limit."),
    paths(
        buyer::list_sales, buyer::get_sale, buyer::purchase, buyer::get_order,
        admin::create_sale, admin::transition, admin::change_stock, admin::flush_cache, admin::void_order,
        admin::launch_stampede, admin::stats,
        ops::health, ops::metrics, ops::events, ops::openapi,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, dto::SaleDto, dto::PurchaseRequest, dto::PurchaseAccepted, dto::OrderDto,
        dto::CreateSaleRequest, dto::StockChangeRequest, dto::StampedeRequest, dto::StampedeStarted,
        dto::FlushResult, dto::Stats, dto::Totals, dto::SaleStats, dto::LedgerCheck, dto::Health,
        ComponentHealth, HealthStatus,
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

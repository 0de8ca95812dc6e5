// GENERATED FILE, do not edit: openapi-typescript's types of src/api/openapi.json,
// the engine's OpenAPI document. Regenerate with `npm run api:types` (from
// dashboard/) whenever that document changes; test/api.test.ts fails until then.

export interface paths {
    "/api/admin/cache/flush": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Rebuilds the live stock from the order ledger. */
        post: operations["flush_cache"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/admin/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * The live stream: recent log events, then every new one, and the stats
         *     every second.
         */
        get: operations["events"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/admin/orders/{order_id}/void": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Voids an answered reservation that the ledger has not decided: one the
         *     sweeper reports as unaccounted for (health, event log, metrics) and the
         *     operator knows lost. The ledger writes the void unless the order was
         *     stored first (then 409, nothing changed); the units go back on sale and
         *     the buyer sees the status `void`. Audited in the ledger's database.
         */
        post: operations["void_order"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/admin/sales": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Creates a sale, `scheduled` until started. */
        post: operations["create_sale"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/admin/sales/{id}/stampede": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Launches a simulated stampede against a sale, inside the engine, through
         *     the real purchase path; watch it on the stats and the event log.
         */
        post: operations["launch_stampede"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/admin/sales/{id}/stock": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Adds or withdraws units during the sale. */
        post: operations["change_stock"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/admin/sales/{id}/{action}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Starts, pauses, resumes or ends a sale. */
        post: operations["transition"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/admin/stats": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Live figures: per sale and in total, with the ledger check. */
        get: operations["stats"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Health of this process and of every store behind it. */
        get: operations["health"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The OpenAPI 3 document of this API, generated from the handlers. */
        get: operations["openapi"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/orders/{order_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One of the caller's orders. */
        get: operations["get_order"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sales": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Every sale, oldest first. */
        get: operations["list_sales"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sales/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One sale. */
        get: operations["get_sale"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/sales/{id}/purchase": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Buys units of a sale. 202 means the units are the buyer's and the order
         *     will exist; retry with the same `Idempotency-Key` to get the same answer.
         */
        post: operations["purchase"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Prometheus text exposition. */
        get: operations["metrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /** @description What a probe found. */
        ComponentHealth: {
            /** @description For operators: latency, lag, persistence mode, the error. */
            detail: string;
            status: components["schemas"]["HealthStatus"];
        };
        /** @description `POST /api/admin/sales`. */
        CreateSaleRequest: {
            /**
             * Format: date-time
             * @description RFC 3339; the sale ends by itself at this time.
             */
            ends_at?: string | null;
            /** @description 1 to 120 characters, not only spaces, no control characters. */
            name: string;
            /**
             * Format: int64
             * @description 1 to 1,000.
             */
            per_user_limit: number;
            /**
             * Format: int64
             * @description 0 to 10^12.
             */
            price_cents: number;
            /** @description 1 to 120 characters, not only spaces, no control characters. */
            product: string;
            /**
             * Format: date-time
             * @description RFC 3339; the sale starts by itself at this time.
             */
            starts_at?: string | null;
            /**
             * Format: int64
             * @description 1 to 10,000,000.
             */
            stock: number;
        };
        ErrorBody: {
            error: components["schemas"]["ErrorDetail"];
        };
        ErrorDetail: {
            /**
             * @description Machine-readable: `invalid_request`, `unauthorized`, `sale_not_found`,
             *     `order_not_found`, `sold_out`, `sale_not_active`, `limit_exceeded`,
             *     `invalid_transition`, `idempotency_key_reused`, `rate_limited`,
             *     `overloaded`, ...
             */
            code: string;
            /** @description For humans. */
            message: string;
        };
        /** @description `POST /api/admin/cache/flush`. */
        FlushResult: {
            flushed: boolean;
            /** @description Sales rebuilt. */
            sales: number;
        };
        /** @description `GET /api/health`. */
        Health: {
            components: {
                [key: string]: components["schemas"]["ComponentHealth"];
            };
            mode: string;
            /** @description `ok`, or `degraded` (HTTP 503) when any component is not ok. */
            status: string;
        };
        /**
         * @description One component's state.
         * @enum {string}
         */
        HealthStatus: "ok" | "degraded" | "down";
        /** @description Whether every unit of a sale is accounted for. */
        LedgerCheck: {
            /**
             * Format: int64
             * @description stock - (remaining + persisted + in flight).
             */
            difference: number;
            /** @description stock = remaining + persisted + in flight. */
            ok: boolean;
        };
        /** @description An order. */
        OrderDto: {
            /** Format: date-time */
            created_at: string;
            /** Format: uuid */
            order_id: string;
            /** Format: int32 */
            quantity: number;
            /** Format: uuid */
            sale_id: string;
            /**
             * @description `pending` (reserved), `confirmed` (in the order store) or `void`
             *     (the ledger decided it will never be an order; see `void_reason`).
             */
            status: string;
            user_id: string;
            /** @description Why a `void` order was voided; absent otherwise. */
            void_reason?: string | null;
        };
        /** @description The 202 answer: the units are the buyer's. */
        PurchaseAccepted: {
            /** Format: uuid */
            order_id: string;
            /**
             * Format: int64
             * @description Units left in the sale right after this purchase.
             */
            remaining: number;
            /** @description Always `pending`: poll `GET /api/orders/{order_id}` for `confirmed`. */
            status: string;
        };
        /** @description `POST /api/sales/{id}/purchase`. */
        PurchaseRequest: {
            /**
             * Format: int64
             * @description Units to buy: 1 up to the sale's per-user limit.
             */
            quantity: number;
        };
        /** @description A sale session. */
        SaleDto: {
            /** Format: date-time */
            created_at: string;
            /**
             * @description Present (true) while the engine rebuilds this sale's live copy,
             *     which it had lost: nothing is shown on sale meanwhile.
             */
            degraded?: boolean;
            /** Format: date-time */
            ends_at?: string | null;
            /** Format: uuid */
            id: string;
            name: string;
            /** Format: int32 */
            per_user_limit: number;
            /** Format: int64 */
            price_cents: number;
            product: string;
            /**
             * Format: int64
             * @description Units not yet sold.
             */
            remaining: number;
            /** Format: int64 */
            sold: number;
            /** Format: date-time */
            starts_at?: string | null;
            /** @description `scheduled`, `active`, `paused`, `ended` or `sold_out`. */
            status: string;
            /**
             * Format: int64
             * @description Units put on sale in all.
             */
            stock: number;
        };
        /** @description Live figures of one sale. */
        SaleStats: {
            /**
             * Format: int64
             * @description Units answered 202 and not yet in the order store.
             */
            in_flight: number;
            ledger: components["schemas"]["LedgerCheck"];
            name: string;
            /**
             * Format: int64
             * @description Orders committed to the order store.
             */
            orders_persisted: number;
            /** Format: int64 */
            remaining: number;
            sale_id: string;
            /** Format: int64 */
            sold: number;
            status: string;
            /** Format: int64 */
            stock: number;
            /**
             * Format: int64
             * @description Units committed to the order store.
             */
            units_persisted: number;
        };
        /** @description `POST /api/admin/sales/{id}/stampede`. */
        StampedeRequest: {
            /**
             * Format: int64
             * @description 1 to 10; default 1.
             */
            attempts_per_buyer?: number | null;
            /**
             * Format: int64
             * @description Simulated buyers: 1 to 100,000.
             */
            buyers: number;
            /**
             * Format: int64
             * @description Units per attempt, 1 up to the sale's per-user limit; default 1.
             */
            quantity?: number | null;
        };
        /** @description The 202 answer of a stampede launch. */
        StampedeStarted: {
            /** Format: int32 */
            attempts_per_buyer: number;
            /** Format: int32 */
            buyers: number;
            sale_id: string;
        };
        /** @description `GET /api/admin/stats`, also pushed every second on the SSE stream. */
        Stats: {
            generated_at: string;
            mode: string;
            sales: components["schemas"]["SaleStats"][];
            totals: components["schemas"]["Totals"];
            /** Format: double */
            uptime_seconds: number;
        };
        /** @description `POST /api/admin/sales/{id}/stock`. */
        StockChangeRequest: {
            /**
             * Format: int64
             * @description Units to add; negative withdraws, down to minus the remaining units;
             *     the stock stays within 10,000,000.
             */
            add: number;
        };
        /** @description Totals over every sale, and the live rates. */
        Totals: {
            /** Format: double */
            accepted_per_second: number;
            /** Format: int64 */
            in_flight: number;
            /** Format: int64 */
            orders_persisted: number;
            /**
             * Format: double
             * @description Over the last ten seconds of purchases.
             */
            p99_latency_ms: number;
            /** Format: double */
            purchase_attempts_per_second: number;
            /**
             * Format: int64
             * @description Reservations waiting for the order store.
             */
            queue_depth: number;
            /** @description Error answers by code since start-up. */
            rejections: {
                [key: string]: number;
            };
            /** Format: int64 */
            remaining: number;
            /** Format: double */
            requests_per_second: number;
            /** Format: int64 */
            sold: number;
            /** Format: int64 */
            stock: number;
            /** Format: int64 */
            units_persisted: number;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    flush_cache: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["FlushResult"];
                };
            };
            /** @description unauthorized */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    events: {
        parameters: {
            query?: {
                /** @description The admin token, for EventSource clients that cannot set headers */
                token?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description text/event-stream of `log` and `stats` events */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description unauthorized */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    void_order: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Order id (UUID) */
                order_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["OrderDto"];
                };
            };
            /** @description unauthorized */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description order_not_found */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description invalid_transition: the order is stored */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    create_sale: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CreateSaleRequest"];
            };
        };
        responses: {
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SaleDto"];
                };
            };
            /** @description invalid_request */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description unauthorized */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    launch_stampede: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Sale id (UUID) */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["StampedeRequest"];
            };
        };
        responses: {
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["StampedeStarted"];
                };
            };
            /** @description invalid_request */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description unauthorized */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description sale_not_found */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description stampede_running */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    change_stock: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Sale id (UUID) */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["StockChangeRequest"];
            };
        };
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SaleDto"];
                };
            };
            /** @description invalid_request */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description unauthorized */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description sale_not_found */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description invalid_transition (ended sale) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    transition: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Sale id (UUID) */
                id: string;
                /** @description start, pause, resume or end */
                action: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SaleDto"];
                };
            };
            /** @description unauthorized */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description sale_not_found */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description invalid_transition */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    stats: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Stats"];
                };
            };
            /** @description unauthorized */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    health: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
            /** @description degraded */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
        };
    };
    openapi: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description OpenAPI 3 JSON */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    get_order: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Order id (UUID) */
                order_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["OrderDto"];
                };
            };
            /** @description unauthorized */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description order_not_found (also another buyer's order) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    list_sales: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SaleDto"][];
                };
            };
        };
    };
    get_sale: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Sale id (UUID) */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SaleDto"];
                };
            };
            /** @description sale_not_found */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    purchase: {
        parameters: {
            query?: never;
            header?: {
                /** @description Same buyer and key: the first answer again */
                "Idempotency-Key"?: string | null;
            };
            path: {
                /** @description Sale id (UUID) */
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["PurchaseRequest"];
            };
        };
        responses: {
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PurchaseAccepted"];
                };
            };
            /** @description invalid_request */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description unauthorized */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description sale_not_found */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description sold_out, sale_not_active or limit_exceeded */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description idempotency_key_reused: the key was first used with another body */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description rate_limited, with Retry-After */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description overloaded, with Retry-After */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    metrics: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Prometheus text */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "text/plain": string;
                };
            };
        };
    };
}

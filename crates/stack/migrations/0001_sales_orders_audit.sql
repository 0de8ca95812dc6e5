-- Sales, the order ledger and the audit log.
CREATE TABLE sales (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    product text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    stock bigint NOT NULL CHECK (stock >= 0),
    per_user_limit integer NOT NULL CHECK (per_user_limit >= 1),
    starts_at timestamptz,
    ends_at timestamptz,
    state text NOT NULL CHECK (state IN ('scheduled', 'active', 'paused', 'ended')),
    created_at timestamptz NOT NULL
);

-- One row per reservation that became an order. No foreign key to sales:
-- the order service must store what the queue carries even if the catalog
-- is elsewhere, and a redelivery is deduplicated by the primary key.
CREATE TABLE orders (
    order_id uuid PRIMARY KEY,
    sale_id uuid NOT NULL,
    user_id text NOT NULL,
    quantity integer NOT NULL CHECK (quantity >= 1),
    status text NOT NULL DEFAULT 'confirmed' CHECK (status IN ('pending', 'confirmed')),
    idempotency_key text,
    remaining_after bigint NOT NULL CHECK (remaining_after >= 0),
    created_at timestamptz NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_by_sale ON orders (sale_id);

-- What operators did to sales, written in the same transaction as the change.
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    sale_id uuid,
    action text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_sale ON audit_log (sale_id, at);

-- Checkout: a sale's payment window, an order's payment deadline and
-- payment, and the statuses paid, expired and cancelled. Every change here
-- takes only a brief lock: columns added without a default (or with a
-- constant one, which PostgreSQL 11+ stores in the catalog), a NOT VALID
-- check, and no index built over the orders, however many there are.
ALTER TABLE sales ADD COLUMN payment_window_seconds integer NOT NULL DEFAULT 0
    CHECK (payment_window_seconds >= 0);
ALTER TABLE orders ADD COLUMN payment_due_at timestamptz, ADD COLUMN paid_at timestamptz;
ALTER TABLE orders DROP CONSTRAINT orders_status_check,
    ADD CONSTRAINT orders_status_check
        CHECK (status IN ('pending', 'confirmed', 'paid', 'expired', 'cancelled', 'void')) NOT VALID;

-- The orders awaiting payment, by deadline: what the expiry reads. A row
-- leaves when its order is paid, expires or is cancelled.
CREATE TABLE payment_due (
    order_id uuid PRIMARY KEY,
    due_at timestamptz NOT NULL
);
CREATE INDEX payment_due_by_time ON payment_due (due_at);

-- Expired or cancelled orders whose units are not back on sale yet: written
-- in the transaction that decides the order, deleted once the stock store
-- took the units back, so a crash in between is retried.
CREATE TABLE units_back (
    order_id uuid PRIMARY KEY,
    decided_at timestamptz NOT NULL DEFAULT now()
);

-- Per-sale totals by status, kept by the statements that change them.
-- orders and units keep counting the orders that hold units (confirmed or
-- paid).
ALTER TABLE sale_totals
    ADD COLUMN paid_orders bigint NOT NULL DEFAULT 0,
    ADD COLUMN paid_units bigint NOT NULL DEFAULT 0,
    ADD COLUMN expired_orders bigint NOT NULL DEFAULT 0,
    ADD COLUMN cancelled_orders bigint NOT NULL DEFAULT 0;

-- The events for the shop (order.confirmed, .paid, .expired, .cancelled,
-- .void), written by the statement that changes the order, so an event is
-- never lost nor sent for a change that did not commit. A row leaves once
-- the shop acknowledged it; one given up on (after a day of retries) stays,
-- with gave_up_at. The partial index holds only what is still to deliver.
CREATE TABLE shop_outbox (
    id uuid PRIMARY KEY,
    type text NOT NULL,
    order_id uuid NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    gave_up_at timestamptz
);
CREATE INDEX shop_outbox_due ON shop_outbox (next_attempt_at) WHERE gave_up_at IS NULL;

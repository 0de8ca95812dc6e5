-- The ledger decides once per order id between "order" and "void": a
-- release writes a void row under the order's own primary key, so a copy
-- of the order that arrives later is refused by ON CONFLICT, and an order
-- stored first makes the release lose. The row keeps why it was voided.
ALTER TABLE orders ADD COLUMN void_reason text;
-- NOT VALID: existing rows satisfy the old, narrower check, so the table
-- is not scanned while it is locked.
ALTER TABLE orders DROP CONSTRAINT orders_status_check,
    ADD CONSTRAINT orders_status_check CHECK (status IN ('pending', 'confirmed', 'void')) NOT VALID;

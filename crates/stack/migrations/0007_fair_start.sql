-- A fair start (issue 19): a sale's opening draw window, in seconds before
-- and after its start. Columns with a constant default: PostgreSQL 11+
-- stores it in the catalog, so adding them takes only a brief lock however
-- many sales there are.
ALTER TABLE sales
    ADD COLUMN prequeue_seconds integer NOT NULL DEFAULT 0 CHECK (prequeue_seconds >= 0),
    ADD COLUMN fair_start_seconds integer NOT NULL DEFAULT 0 CHECK (fair_start_seconds >= 0);

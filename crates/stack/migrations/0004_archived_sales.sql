-- A sale's life ends in the archive: its row stays, with when it was
-- archived and what it sold, and it leaves the live list every background
-- loop walks. Both columns are nullable without a default, so adding them
-- only takes a brief lock. The partial index holds the live sales only,
-- so finding them stays cheap however many sales were ever archived; the
-- sales table is small (one row per sale), so building it is quick.
ALTER TABLE sales ADD COLUMN archived_at timestamptz, ADD COLUMN archived_sold bigint;
CREATE INDEX sales_live ON sales (id) WHERE archived_at IS NULL;

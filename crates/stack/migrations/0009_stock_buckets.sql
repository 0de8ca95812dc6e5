-- A hot sale's live stock split over several Redis slots (issue 17,
-- docs/hot-sale-buckets.md). A constant default: PostgreSQL 11+ keeps it in
-- the catalog, so the column is added under a brief lock whatever the
-- number of sales.
ALTER TABLE sales
    ADD COLUMN stock_buckets integer NOT NULL DEFAULT 1 CHECK (stock_buckets BETWEEN 1 AND 16);

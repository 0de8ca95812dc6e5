-- A fair start's draw kept with the archived sale (issue 19): its seed and
-- entrants, as JSON, for audit once the draw's live records left Redis. A
-- nullable column without a default: adding it takes only a brief lock
-- however many sales there are.
ALTER TABLE sales ADD COLUMN archived_draw text;

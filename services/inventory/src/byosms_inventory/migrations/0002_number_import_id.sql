-- The import that put each number in the inventory. It travels in every NumberStateChanged, so
-- provisioning releases exactly that import's claim when the number is removed (not by comparing
-- clocks). NULL for rows written before this column existed.
ALTER TABLE numbers ADD COLUMN import_id text;

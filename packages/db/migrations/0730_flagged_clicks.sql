-- The attention panel compares the share of flagged clicks (bot, floods, IP lists: clicks.reasons)
-- in the last hour with the day before. Flagged clicks are a small part of all clicks, so a
-- partial index finds them without reading every click of the day; the totals come from the
-- report rollup (report_hourly).
create index clicks_flagged on clicks (clicked_at) where cardinality(reasons) > 0;

-- Over a cap is a visible blocked state (issue 10), not a refusal: the conversion is created and
-- deduplicated as usual, but held back from commission and delivery (nothing is announced) while
-- `cap_blocked_since` is set. Attribution releases it — oldest first — as soon as its offer
-- event's cap has room again (the cap raised or removed, or a place given back by a rejection or
-- reversal), and it then books itself. The partial index keeps the release pass and the gauge to
-- the blocked rows only.
alter table conversions add column cap_blocked_since timestamptz;
create index conversions_cap_blocked on conversions (cap_blocked_since, id) where cap_blocked_since is not null;

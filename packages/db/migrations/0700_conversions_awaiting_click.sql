-- A postback can overtake its click: the click ID alone credits the conversion, but the click's
-- sub IDs, IP and user agent are only in its CLICKS message until attribution stores the row.
-- Announced at once, such a conversion sent the affiliate a postback without its sub IDs (the
-- affiliate's own click ID often travels in sub1) and fixed its report row under empty sub IDs.
-- Now it is created as usual (deduplicated, its refunds applied) with `awaiting_click_since` set,
-- and announced when its click is stored — or when every click published before the postback
-- has been handled without it, or after a bounded wait (services/attribution/src/click-wait.ts).
alter table conversions add column awaiting_click_since timestamptz;
-- The postback's trace (W3C headers), kept while it waits: the release, in a click batch's or a
-- periodic pass's transaction, continues the advertiser's trace rather than starting its own.
alter table conversions add column trace_context jsonb;
create index conversions_awaiting_click on conversions (awaiting_click_since, id) where awaiting_click_since is not null;

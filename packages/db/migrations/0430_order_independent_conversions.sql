-- Order independence on the money path (issue 10): the same reports end in the same conversions
-- whatever order they arrive in.

-- A browser pixel is a claim, not the advertiser's word: by default it creates a pending
-- conversion with no amount, and only the advertiser's S2S report (or a refund) moves money.
-- The operator can let this advertiser's pixels set the amount and the event's default status.
alter table advertisers add column pixel_sets_money boolean not null default false;

-- Which report the conversion's amount (and, separately, the advertiser's payout) comes from.
-- Of all reports carrying one, S2S (and import) beats pixel, then the later event time, then the
-- later receipt: the figures do not depend on the order the reports are handled in. The payout
-- override lives on the conversion so every change commission sees carries the same one.
alter table conversions
  add column amount_source text check (amount_source in ('s2s', 'pixel', 'import')),
  add column amount_at timestamptz,
  add column amount_receipt_id bigint,
  add column payout_override numeric(20, 6),
  add column payout_at timestamptz,
  add column payout_receipt_id bigint;
update conversions set amount_source = source, amount_at = occurred_at, amount_receipt_id = receipt_id
  where amount is not null;

-- A refund or chargeback is a standing fact about its transaction: every conversion of the txid,
-- existing or created later, ends reversed. Rows are kept (applied_at is when it first reversed
-- something) so a conversion created after the refund still finds it.
comment on table pending_reversals is
  'refunds/chargebacks by (advertiser, txid): applied to every conversion of the txid, including later ones';

-- The cap places a conversion took, so a conversion that stops earning (rejected, reversed)
-- gives them back exactly once.
create table conversion_cap_takes (
  conversion_id bigint not null references conversions(id),
  offer_id bigint not null,
  event text not null,
  period text not null check (period in ('day', 'month')),
  period_start date not null,
  primary key (conversion_id, period)
);

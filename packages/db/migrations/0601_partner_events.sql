-- Partner events (issue 14): payout.paid, payout.failed and statement.ready reach an affiliate
-- through the same signed delivery path as conversion postbacks. A template lists the events it
-- receives (none by default, so existing conversion templates keep receiving conversions only).
alter table affiliate_postbacks
  add column partner_events text[] not null default '{}'
    check (partner_events <@ array['payout.paid', 'payout.failed', 'statement.ready']);

-- A partner event's delivery belongs to no conversion: it is unique by (event id, template).
alter table deliveries
  alter column conversion_id drop not null,
  alter column change_seq drop not null,
  add column event_id text,
  add constraint deliveries_subject check (conversion_id is not null or event_id is not null);
create unique index deliveries_partner_event on deliveries (event_id, template_id) where event_id is not null;

-- Owed until handled (docs/internals.md, "Delivery guarantees"): an outbox event is settled when
-- every durable consumer of its stream has committed its effect (its bus_inbox row is the proof),
-- not when the broker acknowledged the publish. Until then the reconciler may publish it again.

alter table bus_outbox
  -- Where the last publish was stored: the reconciler asks the stream whether it still holds it.
  add column stream_seq bigint,
  -- Set once every consumer that must act on the event has its inbox row; null = owed.
  add column handled_at timestamptz,
  -- When the reconciler next looks at an owed row (null: `published_at` + the republish age).
  add column check_at timestamptz,
  -- How many times the reconciler re-published it (the broker had lost it).
  add column republished int not null default 0;

-- Rows published long before this migration predate the guarantee; the relay saw them acked and
-- their consumers have had an hour. Newer ones stay owed and are proven (or re-sent) normally.
update bus_outbox set handled_at = published_at where published_at < now() - interval '1 hour';

-- The reconciler walks owed rows in id order; the index stays as small as what is in flight.
create index bus_outbox_owed_idx on bus_outbox (id) where handled_at is null;
-- Inbox pruning keeps the proofs owed rows still need: it probes this by message id.
create index bus_outbox_owed_msg_id_idx on bus_outbox ((coalesce(msg_id, 'outbox:' || id::text)))
  where handled_at is null;
-- Pruning now walks settled rows by age; an owed row is never pruned.
drop index bus_outbox_published_at_idx;
create index bus_outbox_handled_at_idx on bus_outbox (handled_at) where handled_at is not null;
-- Owed rows are due for a check at `check_at` (set when published); the reconciler finds them here.
create index bus_outbox_check_at_idx on bus_outbox (check_at) where handled_at is null;
update bus_outbox set check_at = published_at where handled_at is null and published_at is not null;

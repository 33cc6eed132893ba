-- Batch-level inbox (docs/internals.md, "Outbox and inbox"): a consumer that handles many messages
-- in one transaction (the CLICKS consumers) records the batch once, with the message ids it
-- covers, instead of one bus_inbox row per message. A redelivery, a re-published copy (same
-- Nats-Msg-Id, new stream sequence) or a batch that only partly overlaps an earlier one finds its
-- ids here and applies only the others. Keyed by message id, not by stream sequence: a broker
-- that lost its store hands out new sequences for the same events.
create table bus_inbox_batches (
  id bigint generated always as identity primary key,
  consumer text not null,
  message_ids text[] not null,
  handled_at timestamptz not null default now()
);
-- "Was this id handled?" for the consumers and the reconciler's proofs; GIN's pending list keeps
-- the insert of a batch one cheap append.
create index bus_inbox_batches_message_ids_idx on bus_inbox_batches using gin (message_ids);
-- Pruning walks by age.
create index bus_inbox_batches_handled_at_idx on bus_inbox_batches (handled_at);

-- The one definition of a consumer's proof that it handled a message, whichever inbox holds it.
-- Plain SQL without a FROM, so the planner inlines it into the reconciler's and pruning's queries.
create function bus_handled(p_consumer text, p_message_id text) returns boolean
language sql stable as $$
  select exists (select 1 from bus_inbox i where i.consumer = p_consumer and i.message_id = p_message_id)
      or exists (select 1 from bus_inbox_batches b
                 where b.message_ids @> array[p_message_id] and b.consumer = p_consumer)
$$;

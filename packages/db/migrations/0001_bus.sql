-- Messaging tables owned by @roundtrip/bus.

-- Inbox: one row per (consumer, message) whose effect committed. The handler inserts it in the same
-- transaction as its effect, so a redelivery (crash between commit and ack) finds it and does nothing.
create table bus_inbox (
  consumer text not null,
  message_id text not null,
  handled_at timestamptz not null default now(),
  primary key (consumer, message_id)
);
-- Pruning walks by age.
create index bus_inbox_handled_at_idx on bus_inbox (handled_at);

-- Outbox: events written in the same transaction as the change they describe, published to
-- JetStream by the relay. `headers` holds the trace context captured at enqueue time.
create table bus_outbox (
  id bigint generated always as identity primary key,
  subject text not null,
  msg_id text,
  payload jsonb not null,
  headers jsonb not null default '{}',
  created_at timestamptz not null default now(),
  published_at timestamptz
);
-- The relay only ever looks at unpublished rows, in id order; the index stays as small as the backlog.
create index bus_outbox_unpublished_idx on bus_outbox (id) where published_at is null;
-- Pruning of published rows by age.
create index bus_outbox_published_at_idx on bus_outbox (published_at) where published_at is not null;

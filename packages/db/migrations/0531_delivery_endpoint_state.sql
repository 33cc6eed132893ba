-- Per-endpoint isolation that holds for every delivery replica together (issue 11): the circuit
-- breaker's state and the attempts in flight live here instead of in each sender's memory, so
-- DELIVERY_ENDPOINT_CONCURRENCY and DELIVERY_BREAKER_FAILURES mean the cluster's figure.
-- Unlogged: a crash forgets open circuits (they close) and slots (leases end anyway), nothing owed.

create unlogged table delivery_circuits (
  endpoint text primary key,
  -- consecutive failed attempts; reset by a success
  failures integer not null default 0,
  -- null while closed; when it opened otherwise
  opened_at timestamptz,
  -- a half-open probe is out until then (one probe for the cluster at a time)
  probe_until timestamptz
);

-- One row per attempt in flight; a sender that dies leaves its row until `expires_at` (its lease).
create unlogged table delivery_endpoint_slots (
  delivery_id bigint primary key,
  endpoint text not null,
  expires_at timestamptz not null
);
create index delivery_endpoint_slots_endpoint on delivery_endpoint_slots (endpoint, expires_at);

-- May an attempt of p_delivery go to p_endpoint now? 'ok' (a slot is taken), 'probe' (a slot is
-- taken and this attempt is the open circuit's probe), 'circuit_open' or 'endpoint_busy'.
-- The endpoint's circuit row is locked for the decision, so replicas asking at once queue up.
create function delivery_endpoint_acquire(
  p_endpoint text, p_delivery bigint, p_concurrency integer, p_half_open_ms integer, p_lease_ms integer
) returns text language plpgsql as $$
declare
  c delivery_circuits%rowtype;
  busy integer;
  probe boolean := false;
begin
  insert into delivery_circuits (endpoint) values (p_endpoint) on conflict (endpoint) do nothing;
  select * into c from delivery_circuits where endpoint = p_endpoint for update;
  if c.opened_at is not null then
    if now() < c.opened_at + make_interval(secs => p_half_open_ms / 1000.0)
       or (c.probe_until is not null and c.probe_until > now()) then
      return 'circuit_open';
    end if;
    probe := true;
  end if;
  delete from delivery_endpoint_slots where endpoint = p_endpoint and expires_at <= now();
  select count(*) into busy from delivery_endpoint_slots where endpoint = p_endpoint;
  if busy >= p_concurrency then
    return 'endpoint_busy';
  end if;
  insert into delivery_endpoint_slots (delivery_id, endpoint, expires_at)
  values (p_delivery, p_endpoint, now() + make_interval(secs => p_lease_ms / 1000.0))
  on conflict (delivery_id) do update set endpoint = excluded.endpoint, expires_at = excluded.expires_at;
  if probe then
    update delivery_circuits set probe_until = now() + make_interval(secs => p_lease_ms / 1000.0)
    where endpoint = p_endpoint;
    return 'probe';
  end if;
  return 'ok';
end $$;

-- The attempt is over: its slot is freed and its result counted. A success closes the circuit;
-- p_breaker_failures failures in a row open it, and a failed probe opens it again. Results of
-- attempts that started before the circuit opened leave an open circuit as it is.
create function delivery_endpoint_release(
  p_endpoint text, p_delivery bigint, p_failed boolean, p_probe boolean, p_breaker_failures integer
) returns void language plpgsql as $$
begin
  delete from delivery_endpoint_slots where delivery_id = p_delivery;
  if p_failed is null then
    return; -- not sent after all: only the slot is given back
  end if;
  if not p_failed then
    update delivery_circuits set failures = 0, opened_at = null, probe_until = null
    where endpoint = p_endpoint and (failures > 0 or opened_at is not null);
  elsif p_probe then
    update delivery_circuits set failures = failures + 1, opened_at = now(), probe_until = null
    where endpoint = p_endpoint;
  else
    update delivery_circuits
    set failures = failures + 1,
        opened_at = case when opened_at is null and failures + 1 >= p_breaker_failures then now() else opened_at end
    where endpoint = p_endpoint;
  end if;
end $$;

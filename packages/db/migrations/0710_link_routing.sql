-- Issue 13: routing rules on tracking links and smart links spanning offers (docs/routing.md).
--
-- A destination on another offer is reached through a link of its own (parent_link_id = the
-- link that routes, one per offer), so the click ID names the destination's link and attribution
-- credits the routed offer from the click ID alone, as for any link.
alter table links add column parent_link_id bigint references links(id);
create unique index links_route_target on links (parent_link_id, offer_id) where parent_link_id is not null;

-- Rules are never changed in place: a new routing retires the rows it replaces, so a click's
-- route_rule_id and route_destination_id always name what served it.
create table link_routes (
  id bigint generated always as identity primary key,
  link_id bigint not null references links(id),
  -- evaluation order; the fallback row comes after every rule
  position integer not null,
  fallback boolean not null default false,
  name text,
  conditions jsonb not null default '{}',
  created_at timestamptz not null default now(),
  retired_at timestamptz
);
create index link_routes_live on link_routes (link_id, position) where retired_at is null;

create table link_route_destinations (
  id bigint generated always as identity primary key,
  route_id bigint not null references link_routes(id),
  position integer not null,
  offer_id bigint not null references offers(id),
  -- the link a click sent here is recorded on (the routing link itself for its own offer)
  target_link_id bigint not null references links(id),
  weight integer not null check (weight between 1 and 1000)
);
create index link_route_destinations_route on link_route_destinations (route_id, position);

-- What served a click: its visitor's country (offline GeoIP), the link the visitor followed when
-- routing chose the destination (link_id is then the destination's link), and the rule and
-- destination that served it.
alter table clicks
  add column country text,
  add column via_link_id bigint,
  add column route_rule_id bigint,
  add column route_destination_id bigint;

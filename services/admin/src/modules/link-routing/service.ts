import type { Sql, Tx } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import type { RoutingDocument, RoutingPut } from "./model.ts";

type Link = {
  id: string;
  code: string;
  offer_id: string;
  affiliate_id: string;
  parent_link_id: string | null;
  brand_id: string;
};

/** The link's live routing (rules empty, fallback null when it does not route); 404 for no such link. */
export async function readRouting(sql: Sql | Tx, linkId: string): Promise<RoutingDocument> {
  const [link] = await sql<{ id: string; timezone: string }[]>`
    select l.id, b.timezone from links l join offers o on o.id = l.offer_id join brands b on b.id = o.brand_id
    where l.id = ${linkId}`;
  if (!link) throw new HttpError(404, "not_found", "no such link", "id");
  const routes = await sql<
    {
      id: string;
      name: string | null;
      fallback: boolean;
      conditions: Record<string, unknown>;
      created_at: Date;
    }[]
  >`select id, name, fallback, conditions, created_at from link_routes
    where link_id = ${linkId} and retired_at is null order by position`;
  const destinations = routes.length
    ? await sql<{ id: string; route_id: string; offer_id: string; target_link_id: string; weight: number }[]>`
        select id, route_id, offer_id, target_link_id, weight from link_route_destinations
        where route_id in ${sql(routes.map((r) => r.id))} order by route_id, position`
    : [];
  const of = (routeId: string) =>
    destinations
      .filter((d) => d.route_id === routeId)
      .map((d) => ({ id: d.id, offer_id: d.offer_id, link_id: d.target_link_id, weight: d.weight }));
  const fallback = routes.find((r) => r.fallback);
  return {
    link_id: link.id,
    timezone: link.timezone,
    rules: routes
      .filter((r) => !r.fallback)
      .map((r) => ({ id: r.id, name: r.name, when: r.conditions, destinations: of(r.id) })),
    fallback: fallback ? { id: fallback.id, destinations: of(fallback.id) } : null,
    updated_at: routes[0]?.created_at.toISOString() ?? null,
  };
}

/**
 * Replaces a link's routing: the rows in force are retired (clicks keep naming what served them)
 * and the new rules, then the fallback (default: the link's own offer), are written in order. A
 * destination on another offer gets the link's own link on that offer (links.parent_link_id),
 * made once and reused, so its click IDs credit that offer. Destinations must be offers of the
 * link's brand: one brand's time zone, privacy settings and cookie apply to the click.
 */
export async function putRouting(
  tx: Tx,
  linkId: string,
  body: RoutingPut,
  /** Audits a destination link made for this routing, in the same transaction. */
  created: (link: Record<string, unknown>) => Promise<void>,
): Promise<{ before: RoutingDocument | null; after: RoutingDocument }> {
  const link = await lockLink(tx, linkId);
  if (link.parent_link_id)
    throw new HttpError(
      400,
      "invalid_request",
      `id: this link is a routing destination of link ${link.parent_link_id}; route on that link`,
      "id",
    );
  const before = await readRouting(tx, linkId);
  const fallback = body.fallback ?? [{ offer_id: link.offer_id, weight: 1 }];
  const lists: { field: string; destinations: { offer_id: string; weight?: number }[] }[] = [
    ...body.rules.map((r, i) => ({ field: `rules.${i}.destinations`, destinations: r.destinations })),
    { field: "fallback", destinations: fallback },
  ];
  const offerIds = [...new Set(lists.flatMap((l) => l.destinations.map((d) => d.offer_id)))];
  const offers = new Map(
    (
      await tx<
        { id: string; brand_id: string }[]
      >`select id, brand_id from offers where id in ${tx(offerIds)}`
    ).map((o) => [o.id, o.brand_id]),
  );
  for (const list of lists)
    for (const [j, d] of list.destinations.entries()) {
      const field = `${list.field}.${j}.offer_id`;
      const brand = offers.get(d.offer_id);
      if (!brand) throw new HttpError(400, "invalid_request", `${field}: no such offer`, field);
      if (brand !== link.brand_id)
        throw new HttpError(400, "invalid_request", `${field}: not an offer of the link's brand`, field);
    }
  const targets = new Map<string, string>([[link.offer_id, link.id]]);
  for (const offerId of offerIds)
    if (!targets.has(offerId)) targets.set(offerId, await targetLink(tx, link, offerId, created));

  await tx`update link_routes set retired_at = now() where link_id = ${linkId} and retired_at is null`;
  const write = async (
    position: number,
    isFallback: boolean,
    name: string | null,
    when: unknown,
    ds: typeof fallback,
  ) => {
    const [route] = await tx<{ id: string }[]>`
      insert into link_routes (link_id, position, fallback, name, conditions)
      values (${linkId}, ${position}, ${isFallback}, ${name}, ${tx.json((when ?? {}) as never)}) returning id`;
    await tx`insert into link_route_destinations ${tx(
      ds.map((d, i) => ({
        route_id: route?.id,
        position: i,
        offer_id: d.offer_id,
        target_link_id: targets.get(d.offer_id),
        weight: d.weight ?? 1,
      })),
    )}`;
  };
  for (const [i, rule] of body.rules.entries())
    await write(i, false, rule.name ?? null, rule.when, rule.destinations);
  await write(body.rules.length, true, null, {}, fallback);
  return { before: before.fallback ? before : null, after: await readRouting(tx, linkId) };
}

/** Retires a link's routing: it goes to its own offer again. Null when it did not route. */
export async function deleteRouting(tx: Tx, linkId: string): Promise<RoutingDocument | null> {
  await lockLink(tx, linkId);
  const before = await readRouting(tx, linkId);
  if (!before.fallback) return null;
  await tx`update link_routes set retired_at = now() where link_id = ${linkId} and retired_at is null`;
  return before;
}

/** One writer of a link's routing at a time. */
async function lockLink(tx: Tx, linkId: string): Promise<Link> {
  const [link] = await tx<Link[]>`
    select l.id, l.code, l.offer_id, l.affiliate_id, l.parent_link_id, o.brand_id
    from links l join offers o on o.id = l.offer_id where l.id = ${linkId} for update of l`;
  if (!link) throw new HttpError(404, "not_found", "no such link", "id");
  return link;
}

/** The routing link's own link on another offer: made once (a code derived from its own), then reused. */
async function targetLink(
  tx: Tx,
  link: Link,
  offerId: string,
  created: (link: Record<string, unknown>) => Promise<void>,
): Promise<string> {
  const [existing] = await tx<{ id: string }[]>`
    select id from links where parent_link_id = ${link.id} and offer_id = ${offerId}`;
  if (existing) return existing.id;
  const code = `${link.code.slice(0, 40)}-${Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("base64url")}`;
  const [row] = await tx<{ id: string }[]>`
    insert into links (code, offer_id, affiliate_id, parent_link_id)
    values (${code}, ${offerId}, ${link.affiliate_id}, ${link.id}) returning *`;
  await created(row as Record<string, unknown>);
  return (row as { id: string }).id;
}

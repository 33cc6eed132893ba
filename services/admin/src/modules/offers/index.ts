import type { Bus } from "@roundtrip/bus";
import { CLICK_MACROS, unknownMacros } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { announce, audit } from "../../changes.ts";
import {
  Count,
  Currency,
  Decimal,
  EventCode,
  getRow,
  Id,
  IdParams,
  listRows,
  notFound,
  Page,
  patchRow,
  allOf,
  Search,
  searchWhere,
  SortBy,
  Status,
  Strict,
} from "../common.ts";
import { view, visibleColumns } from "../../visibility.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";
import { OfferRow } from "../../openapi/schemas.ts";

const WindowDays = t.Integer({
  minimum: 1,
  maximum: 3650,
  description: "attribution window after the click",
});
const DefaultStatus = t.Union([t.Literal("pending"), t.Literal("approved")], {
  description: "status of a postback that sends none",
});
// Conversion caps counted by attribution in the brand's day or month; a conversion over the cap is
// held back (blocked, `over_cap`) until the cap has room — raising or removing it releases the
// waiting ones, oldest first. Null removes the cap.
const Cap = (period: string) =>
  t.Union([Count({ minimum: 1 }), t.Null()], {
    description: `conversions per ${period}; more wait (blocked, over_cap) until there is room`,
  });

export const OfferEvent = Strict({
  code: EventCode,
  window_days: t.Optional(WindowDays),
  default_status: t.Optional(DefaultStatus),
  cap_daily: t.Optional(Cap("day")),
  cap_monthly: t.Optional(Cap("month")),
});

const DestinationUrl = t.String({
  pattern: "^https?://[^\\s]+$",
  maxLength: 2048,
  description: "macros: {click_id} {affiliate_id} {offer_id} {brand} {sub1}…{sub10}",
});

export const OfferCreate = Strict({
  brand_id: Id,
  advertiser_id: Id,
  name: t.String({ minLength: 1, maxLength: 200 }),
  destination_url: DestinationUrl,
  click_id_param: t.Optional(t.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" })),
  currency: Currency,
  events: t.Array(OfferEvent, { minItems: 1, maxItems: 50 }),
});

const ClickCap = (period: string) =>
  t.Optional(
    t.Union([Count({ minimum: 1 }), t.Null()], {
      description: `clicks per ${period}; beyond it the offer's traffic goes to fallback_url at once (needs one)`,
    }),
  );

// Payout caps are traffic caps, like click caps: what the offer paid its affiliates in the brand's
// day or month (the ledger, by event time, in the offer's currency); once reached, its traffic goes
// to fallback_url at once. Conversions from earlier clicks still book.
const PayoutCap = (period: string) =>
  t.Optional(
    t.Union([Decimal, t.Null()], {
      description: `affiliate payout per ${period}, in the offer's currency, greater than 0; once reached the offer's traffic goes to fallback_url at once (needs one)`,
    }),
  );

export const OfferUpdate = Strict({
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  destination_url: t.Optional(DestinationUrl),
  click_id_param: t.Optional(t.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" })),
  status: t.Optional(Status),
  click_cap_daily: ClickCap("day (the brand's)"),
  click_cap_monthly: ClickCap("month (the brand's)"),
  click_cap_lifetime: ClickCap("the offer's lifetime"),
  payout_cap_daily: PayoutCap("day (the brand's)"),
  payout_cap_monthly: PayoutCap("month (the brand's)"),
  fallback_url: t.Optional(t.Union([DestinationUrl, t.Null()], { description: "where capped traffic goes" })),
});

export const OfferEventUpdate = Strict({
  window_days: t.Optional(WindowDays),
  default_status: t.Optional(DefaultStatus),
  cap_daily: t.Optional(Cap("day")),
  cap_monthly: t.Optional(Cap("month")),
});

function checkDestination(url: string): void {
  const unknown = unknownMacros(url, CLICK_MACROS);
  if (unknown.length) {
    throw new HttpError(
      400,
      "invalid_request",
      `destination_url: unknown macro {${unknown[0]}}`,
      "destination_url",
    );
  }
}

export function offers(sql: Sql, bus: Bus) {
  const withEvents = <T extends object>(offer: T, events: readonly unknown[]) => ({
    ...offer,
    events: [...events],
  });
  // Affiliates see the offers they have a tracking link for, nothing else.
  const scope = (affiliateId: string | null) =>
    affiliateId ? sql`id in (select offer_id from links where affiliate_id = ${affiliateId})` : undefined;
  const eventsOf = (id: string) => sql`select * from offer_events where offer_id = ${id} order by code`;
  return new Elysia({ prefix: "/v1/offers", tags: ["offers"] })
    .use(authentication(sql))
    .get(
      "/",
      async ({ query, principal }) => {
        const filters = {
          brand_id: query.brand_id,
          advertiser_id: query.advertiser_id,
          status: query.status,
        };
        const showEvent = view("offer_events", principal);
        const result = await listRows(
          sql,
          "offers",
          filters,
          query,
          view("offers", principal),
          allOf(
            sql,
            scope(principal.affiliateId),
            searchWhere(sql, query.q, visibleColumns("offers", principal, ["name"])),
          ),
        );
        const ids = result.data.map((o) => o.id);
        const events = ids.length
          ? await sql`select * from offer_events where offer_id in ${sql(ids)} order by code`
          : [];
        return {
          ...result,
          data: result.data.map((o) =>
            withEvents(o, events.filter((e) => e.offer_id === o.id).map(showEvent)),
          ),
        };
      },
      {
        query: t.Object({
          brand_id: t.Optional(Id),
          advertiser_id: t.Optional(Id),
          status: t.Optional(Status),
          ...Search("the name"),
          ...SortBy("name", "status", "created_at"),
          ...Page,
        }),
        ...documented({
          summary: "List offers with their events",
          description:
            "Offers page by id with their events; filter by brand, advertiser or status. An affiliate key sees the offers it has links on.",
          response: Paged(OfferRow),
        }),
      },
    )
    .get(
      "/:id",
      async ({ params, principal }) =>
        withEvents(
          await getRow(sql, "offers", params.id, view("offers", principal), {}, scope(principal.affiliateId)),
          (await eventsOf(params.id)).map(view("offer_events", principal)),
        ),
      {
        params: IdParams,
        ...documented({
          summary: "Get an offer with its events",
          description: "One offer with its events (code, attribution window, default status, caps).",
          response: OfferRow,
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        checkDestination(body.destination_url);
        const codes = body.events.map((e) => e.code);
        if (new Set(codes).size !== codes.length)
          throw new HttpError(400, "invalid_request", "events: codes repeat", "events");
        const offer = await sql.begin(async (tx) => {
          const [advertiser] = await tx`select brand_id from advertisers where id = ${body.advertiser_id}`;
          if (!advertiser)
            throw new HttpError(400, "invalid_request", "advertiser_id: no such advertiser", "advertiser_id");
          if (advertiser.brand_id !== body.brand_id) {
            throw new HttpError(
              400,
              "invalid_request",
              "brand_id: the advertiser belongs to another brand",
              "brand_id",
            );
          }
          const [created] = await tx`
            insert into offers (brand_id, advertiser_id, name, destination_url, click_id_param, currency)
            values (${body.brand_id}, ${body.advertiser_id}, ${body.name}, ${body.destination_url},
                    ${body.click_id_param ?? "click_id"}, ${body.currency})
            returning *`;
          if (!created) throw new Error("insert returned nothing");
          const events = await tx`
            insert into offer_events ${tx(
              body.events.map((e) => ({
                offer_id: created.id,
                code: e.code,
                window_days: e.window_days ?? 30,
                default_status: e.default_status ?? "approved",
                cap_daily: e.cap_daily ?? null,
                cap_monthly: e.cap_monthly ?? null,
              })),
            )} returning *`;
          const full = withEvents(created, events);
          await audit(tx, {
            actor: actor(principal),
            action: "create",
            resource: "offers",
            id: created.id,
            after: full,
          });
          return full;
        });
        await announce(bus, "offers", String(offer.id));
        set.status = 201;
        return offer;
      },
      {
        body: OfferCreate,
        ...documented({
          summary: "Create an offer with its events",
          description:
            "Creates an offer with its destination URL template (macros such as {click_id}) and at least one event.",
          response: OfferRow,
          status: 201,
        }),
      },
    )
    .patch(
      "/:id",
      async ({ params, body, principal }) => {
        if (body.destination_url !== undefined) checkDestination(body.destination_url);
        if (body.fallback_url) checkDestination(body.fallback_url);
        const row = await patchRow(sql, bus, principal, {
          table: "offers",
          resource: "offers",
          id: params.id,
          changes: body,
          check: async (tx, before) => {
            for (const field of ["payout_cap_daily", "payout_cap_monthly"] as const) {
              const cap = body[field];
              if (cap && !/[1-9]/.test(cap))
                throw new HttpError(400, "invalid_request", `${field}: must be greater than 0`, field);
            }
            // A click or payout cap turns traffic away: it needs somewhere to send it.
            const after = {
              ...before,
              ...Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)),
            };
            const capped = after.click_cap_daily ?? after.click_cap_monthly ?? after.click_cap_lifetime;
            const payoutCapped = after.payout_cap_daily ?? after.payout_cap_monthly;
            if ((capped || payoutCapped) && !after.fallback_url)
              throw new HttpError(
                400,
                "invalid_request",
                `fallback_url: required while a ${capped ? "click" : "payout"} cap is set`,
                "fallback_url",
              );
            // Commission counts payout only for offers with a payout cap: counters left from an
            // earlier cap missed what was booked since, so they go. Today's and this month's start
            // from the ledger here (when it is all in the offer's currency: converting is
            // commission's), so a cap set below them closes at once; any other period starts from
            // the ledger at its next booking. The lock waits for bookings that read no cap yet
            // (services/commission/src/payout-caps.ts).
            if (payoutCapped && (before.payout_cap_daily ?? before.payout_cap_monthly) === null) {
              await tx`select pg_advisory_xact_lock(hashtextextended(${`payout-cap:${params.id}`}, 0))`;
              await tx`delete from offer_payout_usage where offer_id = ${params.id}`;
              await tx`
                insert into offer_payout_usage (offer_id, period, period_start, payout)
                select o.id, p.period, p.start, coalesce(sum(e.payout), 0)
                from offers o
                join brands br on br.id = o.brand_id
                cross join lateral (values
                  ('day', (now() at time zone br.timezone)::date),
                  ('month', date_trunc('month', now() at time zone br.timezone)::date)) p(period, start)
                left join commission_bookings b on b.offer_id = o.id
                  and (case p.period when 'day' then b.period_day else b.period_month end) = p.start
                left join ledger_entries e on e.conversion_id = b.conversion_id and e.tier = 1
                where o.id = ${params.id}
                group by o.id, p.period, p.start
                having bool_and(e.currency is null or e.currency = o.currency)`;
            }
          },
        });
        return withEvents(row, await eventsOf(params.id));
      },
      {
        params: IdParams,
        body: OfferUpdate,
        ...documented({
          summary: "Change an offer; status paused/active pauses or resumes all its links within a second",
          description: "Changes an offer (audited); pausing it pauses all its links within a second.",
          response: OfferRow,
        }),
      },
    )
    .put(
      "/:id/events/:code",
      async ({ params, body, principal }) => {
        assertCanWrite(principal);
        const event = await sql.begin(async (tx) => {
          const [offer] = await tx`select id from offers where id = ${params.id} for update`;
          if (!offer) throw notFound("offers");
          const [before] =
            await tx`select * from offer_events where offer_id = ${params.id} and code = ${params.code}`;
          const [after] = await tx`
            insert into offer_events (offer_id, code, window_days, default_status, cap_daily, cap_monthly)
            values (${params.id}, ${params.code}, ${body.window_days ?? before?.window_days ?? 30},
                    ${body.default_status ?? before?.default_status ?? "approved"},
                    ${body.cap_daily !== undefined ? body.cap_daily : (before?.cap_daily ?? null)},
                    ${body.cap_monthly !== undefined ? body.cap_monthly : (before?.cap_monthly ?? null)})
            on conflict (offer_id, code) do update
              set window_days = excluded.window_days, default_status = excluded.default_status,
                  cap_daily = excluded.cap_daily, cap_monthly = excluded.cap_monthly
            returning *`;
          await audit(tx, {
            actor: actor(principal),
            action: before ? "update" : "create",
            resource: "offer-events",
            id: `${params.id}:${params.code}`,
            before,
            after,
          });
          return after;
        });
        await announce(bus, "offers", params.id);
        return event;
      },
      {
        params: t.Object({ id: Id, code: EventCode }),
        body: OfferEventUpdate,
        ...documented({
          summary: "Add an event to an offer or change its window, default status or conversion caps",
          description:
            "Creates or replaces one event of an offer: attribution window, default status, daily and monthly conversion caps.",
          response: Row("offer_events"),
        }),
      },
    );
}

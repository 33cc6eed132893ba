import type { Bus } from "@roundtrip/bus";
import { CLICK_MACROS, unknownMacros } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { announce, audit } from "../../changes.ts";
import { Currency, getRow, Id, IdParams, listRows, Page } from "../common.ts";

export const OfferEvent = t.Object({
  code: t.String({ pattern: "^[a-z0-9_]{1,40}$" }),
  window_days: t.Optional(t.Integer({ minimum: 1, maximum: 3650, default: 30 })),
  default_status: t.Optional(t.Union([t.Literal("pending"), t.Literal("approved")], { default: "approved" })),
});

export const OfferCreate = t.Object({
  brand_id: Id,
  advertiser_id: Id,
  name: t.String({ minLength: 1, maxLength: 200 }),
  destination_url: t.String({ pattern: "^https?://[^\\s]+$", maxLength: 2048 }),
  click_id_param: t.Optional(t.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" })),
  currency: Currency,
  events: t.Array(OfferEvent, { minItems: 1, maxItems: 50 }),
});

export function offers(sql: Sql, bus: Bus) {
  const withEvents = <T extends object>(offer: T, events: readonly unknown[]) => ({
    ...offer,
    events: [...events],
  });
  return new Elysia({ prefix: "/v1/offers", tags: ["offers"] })
    .use(authentication(sql))
    .get(
      "/",
      async ({ query }) => {
        const result = await listRows(
          sql,
          "offers",
          { brand_id: query.brand_id, advertiser_id: query.advertiser_id },
          query,
        );
        const ids = result.data.map((o) => o.id);
        const events = ids.length
          ? await sql`select * from offer_events where offer_id in ${sql(ids)} order by code`
          : [];
        return {
          ...result,
          data: result.data.map((o) =>
            withEvents(
              o,
              events.filter((e) => e.offer_id === o.id),
            ),
          ),
        };
      },
      { query: t.Object({ brand_id: t.Optional(Id), advertiser_id: t.Optional(Id), ...Page }) },
    )
    .get(
      "/:id",
      async ({ params }) => {
        const offer = await getRow(sql, "offers", params.id);
        return withEvents(
          offer,
          await sql`select * from offer_events where offer_id = ${params.id} order by code`,
        );
      },
      { params: IdParams },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const unknown = unknownMacros(body.destination_url, CLICK_MACROS);
        if (unknown.length) {
          throw new HttpError(
            400,
            "invalid_request",
            `unknown macro {${unknown[0]}} in destination_url`,
            "destination_url",
          );
        }
        const codes = body.events.map((e) => e.code);
        if (new Set(codes).size !== codes.length)
          throw new HttpError(400, "invalid_request", "event codes repeat", "events");
        const offer = await sql.begin(async (tx) => {
          const [advertiser] = await tx`select brand_id from advertisers where id = ${body.advertiser_id}`;
          if (!advertiser) throw new HttpError(400, "invalid_request", "no such advertiser", "advertiser_id");
          if (advertiser.brand_id !== body.brand_id) {
            throw new HttpError(
              400,
              "invalid_request",
              "the advertiser belongs to another brand",
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
      { body: OfferCreate },
    );
}

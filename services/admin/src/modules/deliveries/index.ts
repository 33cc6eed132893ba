import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { audit } from "../../changes.ts";
import { getRow, Id, IdParams, listRows, Page } from "../common.ts";
import { view } from "../../visibility.ts";
import { deliveryView, replay, replayable } from "./service.ts";

const Status = t.Union([
  t.Literal("pending"),
  t.Literal("delivered"),
  t.Literal("failed"),
  t.Literal("dead"),
]);

/** Outbound affiliate postbacks, their attempt log, and replays of dead letters. */
export function deliveries(sql: Sql) {
  return new Elysia({ prefix: "/v1/deliveries", tags: ["deliveries"] })
    .use(authentication(sql))
    .get(
      "/",
      async ({ query, principal }) => {
        const show = view("deliveries", principal);
        return listRows(
          sql,
          "deliveries",
          {
            affiliate_id: principal.affiliateId ?? query.affiliate_id,
            conversion_id: query.conversion_id,
            template_id: query.template_id,
            status: query.status,
          },
          query,
          (row) => show(deliveryView(row)),
        );
      },
      {
        query: t.Object({
          affiliate_id: t.Optional(Id),
          conversion_id: t.Optional(Id),
          template_id: t.Optional(Id),
          status: t.Optional(Status),
          ...Page,
        }),
        detail: { summary: "List deliveries (status dead = dead-lettered, replayable)" },
      },
    )
    .get(
      "/:id",
      async ({ params, principal }) => {
        const show = view("deliveries", principal);
        const delivery = await getRow(sql, "deliveries", params.id, (row) => show(deliveryView(row)), {
          affiliate_id: principal.affiliateId,
        });
        const attempts =
          await sql`select * from delivery_attempts where delivery_id = ${params.id} order by attempt`;
        return { ...delivery, attempts: attempts.map(view("delivery_attempts", principal)) };
      },
      {
        params: IdParams,
        detail: {
          summary: "Get one delivery with every attempt (URL masked, status, latency, excerpt, error)",
        },
      },
    )
    .post(
      "/:id/replay",
      async ({ params, principal }) => {
        assertCanWrite(principal);
        await replayable(sql, params.id, principal.affiliateId);
        const result = await sql.begin(async (tx) => {
          const r = await replay(tx, { id: params.id });
          await audit(tx, {
            actor: actor(principal),
            action: "replay",
            resource: "deliveries",
            id: params.id,
            after: r,
          });
          return r;
        });
        if (!result.replayed.length)
          throw new HttpError(409, "not_replayable", "the delivery changed meanwhile; reload it");
        return { id: params.id, status: "pending" };
      },
      {
        params: IdParams,
        detail: { summary: "Replay a dead-lettered or failed delivery (same webhook-id)" },
      },
    )
    .post(
      "/replay",
      async ({ body, principal }) => {
        assertCanWrite(principal);
        if (!body.template_id && !body.affiliate_id) {
          throw new HttpError(400, "invalid_request", "name a template_id or an affiliate_id", "template_id");
        }
        return sql.begin(async (tx) => {
          const r = await replay(tx, { templateId: body.template_id, affiliateId: body.affiliate_id });
          await audit(tx, {
            actor: actor(principal),
            action: "replay",
            resource: "deliveries",
            id: null,
            after: { ...body, count: r.replayed.length, skipped_disabled: r.skipped_disabled },
          });
          return { replayed: r.replayed.length, skipped_disabled: r.skipped_disabled };
        });
      },
      {
        body: t.Object({ template_id: t.Optional(Id), affiliate_id: t.Optional(Id) }),
        detail: {
          summary: "Replay every dead or failed delivery of a template or an affiliate (up to 10 000)",
        },
      },
    );
}

import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { audit } from "../../changes.ts";
import { allOf, getRow, Id, IdOf, IdParams, listRows, Page, Search, searchWhere, SortBy } from "../common.ts";
import { view, visibleColumns } from "../../visibility.ts";
import { deliveryView, replay, replayable, retryNow } from "./service.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";
import { ReplayResult, BulkReplayResult } from "../../openapi/schemas.ts";

const Status = t.Union(
  [
    t.Literal("pending"),
    t.Literal("delivered"),
    t.Literal("failed"),
    t.Literal("dead"),
    t.Literal("skipped"),
  ],
  {
    description:
      "skipped: an ad-platform delivery deliberately not sent (too old, nothing to match); the reason is in last_error",
  },
);

const Kind = t.Union([t.Literal("postback"), t.Literal("forward"), t.Literal("webhook")], {
  description:
    "postback: an affiliate's postback (template_id); forward: an ad-platform forward (destination_id); webhook: an operator webhook event (webhook_id)",
});
const KIND_COLUMN = { postback: "template_id", forward: "destination_id", webhook: "webhook_id" } as const;

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
            destination_id: query.destination_id,
            webhook_id: query.webhook_id,
            status: query.status,
          },
          query,
          (row) => show(deliveryView(row)),
          allOf(
            sql,
            query.kind ? sql`${sql(KIND_COLUMN[query.kind])} is not null` : undefined,
            // Never the URL: a search would match the secrets its view masks.
            searchWhere(
              sql,
              query.q,
              visibleColumns("deliveries", principal, [
                "event_id",
                "platform_event_id",
                "last_error",
                "last_status_code",
              ]),
            ),
          ),
        );
      },
      {
        query: t.Object({
          affiliate_id: t.Optional(Id),
          conversion_id: t.Optional(Id),
          template_id: t.Optional(Id),
          destination_id: t.Optional(Id),
          webhook_id: t.Optional(IdOf("an operator webhook's deliveries (staff)")),
          kind: t.Optional(Kind),
          status: t.Optional(Status),
          ...Search("the event id, the platform's event id, the last error or the last status code"),
          ...SortBy("created_at", "next_attempt_at", "attempts", "status"),
          ...Page,
        }),
        ...documented({
          summary: "List deliveries (status dead = dead-lettered, replayable)",
          description:
            "Outbound affiliate postbacks, ad-platform forwards (destination_id, platform_event_id) and operator webhook events (webhook_id: payout and statement events) page by id (or by `sort`, then id); filter by status, kind, affiliate, conversion, template, destination or webhook, search with `q`. URLs are masked; platform tokens are never stored with a delivery; an affiliate key sees its own postbacks only.",
          response: Paged(Row("deliveries")),
        }),
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
        ...documented({
          summary: "Get one delivery with every attempt (URL masked, status, latency, excerpt, error)",
          description:
            "One delivery with every attempt: masked URL, status code, latency, response excerpt, error.",
          response: Row("deliveries", { extra: { attempts: t.Array(Row("delivery_attempts")) } }),
        }),
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
        ...documented({
          summary: "Replay a dead-lettered or failed delivery (same webhook-id)",
          description:
            "Queues a dead or failed delivery again with the same idempotency key (webhook-id), so the affiliate can drop a repeat.",
          response: ReplayResult,
          status: 202,
        }),
      },
    )
    .post(
      "/:id/retry",
      async ({ params, principal }) => {
        assertCanWrite(principal);
        await sql.begin(async (tx) => {
          await retryNow(tx, params.id, principal.affiliateId);
          await audit(tx, {
            actor: actor(principal),
            action: "retry-now",
            resource: "deliveries",
            id: params.id,
          });
        });
        return { id: params.id, status: "pending" as const };
      },
      {
        params: IdParams,
        ...documented({
          summary: "Retry a pending (failing) delivery now instead of at its next scheduled attempt",
          description:
            "A pending delivery waiting out its backoff is made due at once (same webhook-id, same retry cycle). " +
            "409 `not_retryable` when it is not pending (replay a dead or failed one instead) or is being sent right now; " +
            "409 `endpoint_disabled` when its template is disabled. Audited.",
          response: ReplayResult,
          status: 202,
        }),
      },
    )
    .post(
      "/replay",
      async ({ body, principal }) => {
        assertCanWrite(principal);
        if (!body.template_id && !body.affiliate_id && !body.destination_id && !body.webhook_id) {
          throw new HttpError(
            400,
            "invalid_request",
            "name a template_id, an affiliate_id, a destination_id or a webhook_id",
            "template_id",
          );
        }
        return sql.begin(async (tx) => {
          const r = await replay(tx, {
            templateId: body.template_id,
            affiliateId: body.affiliate_id,
            destinationId: body.destination_id,
            webhookId: body.webhook_id,
          });
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
        body: t.Object({
          template_id: t.Optional(Id),
          affiliate_id: t.Optional(Id),
          destination_id: t.Optional(Id),
          webhook_id: t.Optional(IdOf("an operator webhook")),
        }),
        ...documented({
          summary:
            "Replay every dead or failed delivery of a template, an affiliate, an ad-platform destination or an operator webhook (up to 10 000)",
          description:
            "Queues again every dead or failed delivery of a template or an affiliate, up to 10 000; deliveries of disabled templates are skipped and counted.",
          response: BulkReplayResult,
          status: 202,
        }),
      },
    );
}

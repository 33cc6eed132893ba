import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication, isAffiliate } from "../../auth.ts";
import { announce, audit, createAudited } from "../../changes.ts";
import { getRow, Id, IdParams, listRows, Page } from "../common.ts";
import { view } from "../../visibility.ts";
import { AffiliatePostbackCreate, AffiliatePostbackPatch, TestResultSchema } from "./model.ts";
import { type SendTestSettings, sendTest, templateForTest } from "./send-test.ts";
import { checkTemplate } from "./service.ts";
import { documented } from "../../openapi/documented.ts";
import { Paged, Row } from "../../openapi/rows.ts";

export { AffiliatePostbackCreate } from "./model.ts";

/**
 * Affiliate postback templates: global per affiliate, per offer, per event; GET or POST. The
 * delivery service picks the most specific active one for each conversion change.
 */
export function affiliatePostbacks(sql: Sql, bus: Bus, testing: SendTestSettings) {
  return new Elysia({ prefix: "/v1/affiliate-postbacks", tags: ["affiliate-postbacks"] })
    .use(authentication(sql))
    .get(
      "/",
      ({ query, principal }) =>
        listRows(
          sql,
          "affiliate_postbacks",
          { affiliate_id: principal.affiliateId ?? query.affiliate_id, status: query.status },
          query,
          view("affiliate_postbacks", principal),
        ),
      {
        query: t.Object({
          affiliate_id: t.Optional(Id),
          status: t.Optional(t.Union([t.Literal("active"), t.Literal("disabled")])),
          ...Page,
        }),
        ...documented({
          summary: "List postback templates; an affiliate key sees only its own",
          description:
            "Outbound postback templates page by id; filter by affiliate or offer. An affiliate key sees only its own.",
          response: Paged(Row("affiliate_postbacks")),
        }),
      },
    )
    .get(
      "/:id",
      ({ params, principal }) =>
        getRow(sql, "affiliate_postbacks", params.id, view("affiliate_postbacks", principal), {
          affiliate_id: principal.affiliateId,
        }),
      {
        params: IdParams,
        ...documented({
          summary: "Get one postback template",
          description: "One outbound postback template by id.",
          response: Row("affiliate_postbacks"),
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const method = body.method ?? "GET";
        const content_type = body.content_type ?? "application/json";
        checkTemplate({
          url_template: body.url_template,
          method,
          body_template: body.body_template ?? null,
          content_type,
        });
        const row = await createAudited(sql, bus, principal, "affiliate-postbacks", async (tx) => {
          const [affiliate] = await tx`select id from affiliates where id = ${body.affiliate_id}`;
          if (!affiliate) throw new HttpError(400, "invalid_request", "no such affiliate", "affiliate_id");
          if (body.offer_id) {
            const [offer] = await tx`select id from offers where id = ${body.offer_id}`;
            if (!offer) throw new HttpError(400, "invalid_request", "no such offer", "offer_id");
          }
          const [created] = await tx`
            insert into affiliate_postbacks (affiliate_id, offer_id, event, method, url_template, body_template, content_type,
                                             partner_events)
            values (${body.affiliate_id}, ${body.offer_id ?? null}, ${body.event ?? null}, ${method}, ${body.url_template},
                    ${body.body_template ?? null}, ${content_type}, ${body.partner_events ?? []})
            returning *`;
          if (!created) throw new Error("insert returned nothing");
          return created;
        });
        set.status = 201;
        return row;
      },
      {
        body: AffiliatePostbackCreate,
        ...documented({
          summary: "Create a postback template (validated: unknown macro → 400)",
          description:
            "Creates an outbound postback template for an affiliate (globally, per offer or per event) with macros such as {click_id}, {payout}; an unknown macro is a 400.",
          response: Row("affiliate_postbacks"),
          status: 201,
        }),
      },
    )
    .patch(
      "/:id",
      async ({ params, body, principal }) => {
        assertCanWrite(principal);
        if (Object.keys(body).length === 0)
          throw new HttpError(400, "invalid_request", "nothing to change", "(body)");
        const row = await sql.begin(async (tx) => {
          const [before] = await tx`select * from affiliate_postbacks where id = ${params.id} for update`;
          if (!before) throw new HttpError(404, "not_found", "no such affiliate-postback", "id");
          const next = {
            url_template: body.url_template ?? before.url_template,
            method: body.method ?? before.method,
            body_template: body.body_template === undefined ? before.body_template : body.body_template,
            content_type: body.content_type ?? before.content_type,
          };
          checkTemplate(next);
          const status = body.status ?? before.status;
          const enabling = status === "active" && before.status !== "active";
          const disabling = status === "disabled" && before.status !== "disabled";
          const [after] = await tx`
            update affiliate_postbacks set
              url_template = ${next.url_template}, method = ${next.method}, body_template = ${next.body_template},
              content_type = ${next.content_type}, status = ${status},
              partner_events = ${body.partner_events ?? before.partner_events},
              disabled_reason = ${enabling ? null : disabling ? "operator" : before.disabled_reason},
              disabled_at = ${enabling ? null : disabling ? new Date() : before.disabled_at},
              failing_since = ${enabling ? null : before.failing_since},
              updated_at = now()
            where id = ${params.id}
            returning *`;
          await audit(tx, {
            actor: actor(principal),
            action: "update",
            resource: "affiliate-postbacks",
            id: params.id,
            before,
            after,
          });
          return after;
        });
        await announce(bus, "affiliate-postbacks", params.id);
        return row;
      },
      {
        params: IdParams,
        body: AffiliatePostbackPatch,
        ...documented({
          summary:
            "Change a postback template, or enable/disable it (changes apply to postbacks planned from now on)",
          description:
            "Changes a template or enables/disables it; the change applies to postbacks planned from now on (audited).",
          response: Row("affiliate_postbacks"),
        }),
      },
    )
    .post(
      "/:id/test",
      async ({ params, principal }) => {
        // An affiliate tests its own templates; staff who may change templates test any.
        if (!isAffiliate(principal)) assertCanWrite(principal);
        const template = await templateForTest(sql, params.id, principal.affiliateId);
        if (!template) throw new HttpError(404, "not_found", "no such affiliate-postback", "id");
        const result = await sendTest(sql, template, testing);
        await sql.begin((tx) =>
          audit(tx, {
            actor: actor(principal),
            action: "send-test",
            resource: "affiliate-postbacks",
            id: params.id,
            after: {
              url: result.request.url,
              outcome: result.outcome,
              status: result.response?.status ?? null,
              error: result.error,
            },
          }),
        );
        return result;
      },
      {
        params: IdParams,
        response: { 200: TestResultSchema },
        detail: {
          summary: "Send a test postback to the template's URL and see the request and the response",
          description:
            "Rendered with sample values (click_id test_…, payout 0.00, status approved), signed with the affiliate's " +
            "secrets like a delivery, checked by the same SSRF guard and sent once (no retry, nothing booked or queued). " +
            "outcome: delivered (2xx), failed (another answer), refused (the guard: a private or non-HTTP target), network_error.",
        },
      },
    );
}

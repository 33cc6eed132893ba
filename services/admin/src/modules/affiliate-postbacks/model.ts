import { PARTNER_EVENT_TYPES } from "@roundtrip/contracts";
import { t } from "elysia";
import { Id } from "../common.ts";

const Url = t.String({
  pattern: "^https?://[^\\s]+$",
  maxLength: 2048,
  description: "URL with macros, e.g. {click_id}",
});
const PartnerEvents = t.Array(t.Union(PARTNER_EVENT_TYPES.map((e) => t.Literal(e))), {
  uniqueItems: true,
  description:
    "partner events this template also receives (payout.paid, payout.failed, statement.ready): a POST gets {type, timestamp, data}, a GET the macros {affiliate_id} {payout} {currency} {status} {timestamp}",
});
const ContentType = t.Union([t.Literal("application/json"), t.Literal("application/x-www-form-urlencoded")]);

export const AffiliatePostbackCreate = t.Object({
  affiliate_id: Id,
  url_template: Url,
  offer_id: t.Optional(Id),
  event: t.Optional(t.String({ pattern: "^[a-z0-9_]{1,40}$" })),
  method: t.Optional(t.Union([t.Literal("GET"), t.Literal("POST")])),
  body_template: t.Optional(
    t.String({
      minLength: 1,
      maxLength: 8192,
      description: "POST only; macros escaped for content_type; absent = standard JSON body",
    }),
  ),
  content_type: t.Optional(ContentType),
  partner_events: t.Optional(PartnerEvents),
});
export type AffiliatePostbackCreate = typeof AffiliatePostbackCreate.static;

export const AffiliatePostbackPatch = t.Object({
  url_template: t.Optional(Url),
  method: t.Optional(t.Union([t.Literal("GET"), t.Literal("POST")])),
  body_template: t.Optional(t.Union([t.String({ minLength: 1, maxLength: 8192 }), t.Null()])),
  content_type: t.Optional(ContentType),
  partner_events: t.Optional(PartnerEvents),
  status: t.Optional(
    t.Union([t.Literal("active"), t.Literal("disabled")], {
      description:
        "active re-enables an endpoint the sender disabled (410, failing); its dead deliveries can then be replayed",
    }),
  ),
});
export type AffiliatePostbackPatch = typeof AffiliatePostbackPatch.static;

const Headers = t.Record(t.String(), t.String());
/** What a "send test" answers: the request as sent (secrets in the URL masked) and the response as received. */
export const TestResultSchema = t.Object({
  outcome: t.Union([
    t.Literal("delivered"),
    t.Literal("failed"),
    t.Literal("refused"),
    t.Literal("network_error"),
  ]),
  error: t.Union([t.String(), t.Null()]),
  request: t.Object({
    method: t.Union([t.Literal("GET"), t.Literal("POST")]),
    url: t.String(),
    headers: Headers,
    body: t.Union([t.String(), t.Null()]),
  }),
  response: t.Union([
    t.Object({
      status: t.Integer(),
      headers: Headers,
      body: t.String({ description: "the first 2000 bytes" }),
      remote_address: t.Union([t.String(), t.Null()]),
    }),
    t.Null(),
  ]),
  latency_ms: t.Integer(),
  values: t.Record(t.String(), t.String(), { description: "the macro values the test used" }),
});

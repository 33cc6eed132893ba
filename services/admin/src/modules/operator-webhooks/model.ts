import { PARTNER_EVENT_TYPES } from "@roundtrip/contracts";
import { t } from "elysia";
import { Strict } from "../common.ts";

const Url = t.String({
  pattern: "^https?://[^\\s]+$",
  maxLength: 2048,
  description: "where the events are POSTed (checked by the delivery SSRF guard at every attempt)",
});
const Events = t.Array(t.Union(PARTNER_EVENT_TYPES.map((e) => t.Literal(e))), {
  minItems: 1,
  uniqueItems: true,
  description:
    "the partner events this webhook receives, for every affiliate: payout.paid, payout.failed, statement.ready",
});

export const OperatorWebhookCreate = Strict({
  name: t.String({ minLength: 1, maxLength: 200, description: "what it is for, e.g. Finance ERP" }),
  url: Url,
  events: Events,
});
export type OperatorWebhookCreate = typeof OperatorWebhookCreate.static;

export const OperatorWebhookPatch = Strict({
  name: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
  url: t.Optional(Url),
  events: t.Optional(Events),
  status: t.Optional(
    t.Union([t.Literal("active"), t.Literal("disabled")], {
      description:
        "disabled pauses it (no events are planned for it meanwhile); active re-enables one the sender disabled (410, failing), whose dead deliveries can then be replayed",
    }),
  ),
});
export type OperatorWebhookPatch = typeof OperatorWebhookPatch.static;

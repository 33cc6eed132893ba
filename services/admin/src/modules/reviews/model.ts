import { t } from "elysia";
import { Cursor, Id } from "../common.ts";

export const ReviewState = t.Union(
  [t.Literal("held"), t.Literal("flagged"), t.Literal("approved"), t.Literal("rejected")],
  { description: "held (pending until decided), flagged (paid, to look at), or decided" },
);

export const ReviewQuery = t.Object({
  state: t.Optional(
    t.Union([ReviewState, t.Literal("open")], { description: "default open: held and flagged" }),
  ),
  reason: t.Optional(
    t.String({ pattern: "^[a-z0-9_]{1,64}$", description: "a reason code (docs/fraud.md)" }),
  ),
  offer_id: t.Optional(Id),
  affiliate_id: t.Optional(Id),
  cursor: t.Optional(Cursor),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 500, default: 100 })),
});
export type ReviewQuery = typeof ReviewQuery.static;

export const MAX_DECISIONS = 500;

export const ReviewDecision = t.Object({
  conversion_ids: t.Array(Id, { minItems: 1, maxItems: MAX_DECISIONS, uniqueItems: true }),
  decision: t.Union([t.Literal("approve"), t.Literal("reject")]),
  reject_reason: t.Optional(
    t.String({
      pattern: "^[a-z0-9_]{1,64}$",
      description: "what the affiliate's {reject_reason} macro says (default: the first rule that fired)",
    }),
  ),
});
export type ReviewDecision = typeof ReviewDecision.static;

export type DecisionResult = {
  conversion_id: string;
  result: "approved" | "rejected" | "not_found" | "already_decided";
  /** The status change sent through intake, if any (its receipt). */
  receipt_id: string | null;
};

import { REASONS, RuleAction } from "@roundtrip/contracts";
import { t } from "elysia";
import { Count, EventCode, Id } from "../common.ts";

export const ReasonCode = t.Union(
  REASONS.map((r) => t.Literal(r)),
  { description: "the rule, named by the reason code it records (docs/fraud.md)" },
);

/** One rule, per offer or program-wide: created, or replaced when its scope already has one. */
export const TrafficRulePut = t.Object({
  offer_id: t.Optional(t.Union([Id, t.Null()], { description: "null or absent: the program-wide default" })),
  reason: ReasonCode,
  event: t.Optional(
    t.Union([EventCode, t.Null()], {
      description: "CTIT rules only: the event it applies to (absent: every event)",
    }),
  ),
  threshold: t.Optional(
    t.Union([Count({ minimum: 1 }), t.Null()], {
      description:
        "seconds (ctit_*), clicks per minute (click_flood_*), hours (same_device); null turns it off",
    }),
  ),
  action: RuleAction,
  enabled: t.Optional(t.Boolean({ default: true })),
});
export type TrafficRulePut = typeof TrafficRulePut.static;

export const TrafficRuleQuery = t.Object({
  offer_id: t.Optional(Id),
  reason: t.Optional(ReasonCode),
});

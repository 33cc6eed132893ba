import { Type as t } from "@sinclair/typebox";

/**
 * Traffic-quality reason codes: stable names recorded on clicks (`clicks.reasons`) and on
 * conversions (`conversion_rule_hits.reason`), grouped by reports and counted in metrics. Never
 * rename one: reports, alerts and affiliates' `{reject_reason}` postbacks depend on them.
 * docs/fraud.md describes each.
 */
export const REASON = {
  bot: "bot",
  clickFloodIp: "click_flood_ip",
  clickFloodSub: "click_flood_sub",
  clickFloodLink: "click_flood_link",
  ipDatacenter: "ip_datacenter",
  ipVpn: "ip_vpn",
  ipTor: "ip_tor",
  ipBlocked: "ip_blocked",
  ctitTooFast: "ctit_too_fast",
  ctitTooSlow: "ctit_too_slow",
  sameDevice: "same_device",
  selfReferral: "self_referral",
} as const;
export type Reason = (typeof REASON)[keyof typeof REASON];
export const REASONS: readonly Reason[] = Object.values(REASON);

/** What a rule does to a conversion it fires on. */
export const RuleAction = t.Union([
  t.Literal("flag"), // paid as usual, marked for a look
  t.Literal("hold"), // kept pending until someone approves or rejects it
  t.Literal("reject"), // rejected: no commission
]);
export type RuleAction = typeof RuleAction.static;

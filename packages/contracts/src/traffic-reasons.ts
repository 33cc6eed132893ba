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
  clickCap: "click_cap",
  conversionCap: "conversion_cap",
  payoutCap: "payout_cap",
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

/** A rule as it applies: configured per offer, else program-wide, else this built-in default. */
export type RuleSetting = { threshold: number | null; action: RuleAction; enabled: boolean };

/**
 * Built-in defaults (docs/fraud.md). Thresholds: seconds for `ctit_*`, clicks per minute for
 * `click_flood_*`, hours of window for `same_device`; other rules take none. A rule with a
 * threshold but none set is off.
 */
export const DEFAULT_RULES: Readonly<Record<Reason, RuleSetting>> = {
  bot: { threshold: null, action: "flag", enabled: true },
  click_flood_ip: { threshold: 30, action: "flag", enabled: true },
  click_flood_sub: { threshold: 300, action: "flag", enabled: true },
  click_flood_link: { threshold: null, action: "flag", enabled: true },
  ip_datacenter: { threshold: null, action: "flag", enabled: true },
  ip_vpn: { threshold: null, action: "flag", enabled: true },
  ip_tor: { threshold: null, action: "hold", enabled: true },
  ip_blocked: { threshold: null, action: "reject", enabled: true },
  ctit_too_fast: { threshold: 10, action: "flag", enabled: true },
  ctit_too_slow: { threshold: null, action: "flag", enabled: true },
  same_device: { threshold: 24, action: "flag", enabled: true },
  self_referral: { threshold: null, action: "flag", enabled: true },
  click_cap: { threshold: null, action: "flag", enabled: true },
  conversion_cap: { threshold: null, action: "flag", enabled: true },
  payout_cap: { threshold: null, action: "flag", enabled: true },
};

/** Rules whose threshold is a number the operator sets; the others fire on a fact. */
export const THRESHOLD_UNIT: Partial<Record<Reason, "seconds" | "clicks_per_minute" | "hours">> = {
  click_flood_ip: "clicks_per_minute",
  click_flood_sub: "clicks_per_minute",
  click_flood_link: "clicks_per_minute",
  ctit_too_fast: "seconds",
  ctit_too_slow: "seconds",
  same_device: "hours",
};

/** The IP list kinds and the reason each records (`allow` records none: it exempts). */
export const IP_LIST_REASON = {
  datacenter: REASON.ipDatacenter,
  vpn: REASON.ipVpn,
  tor: REASON.ipTor,
  block: REASON.ipBlocked,
} as const;
export const IP_LIST_KINDS = ["datacenter", "vpn", "tor", "block", "allow"] as const;
export type IpListKind = (typeof IP_LIST_KINDS)[number];

/**
 * What each role may read of each resource: one column allow-list per role and resource, applied
 * by every read path (lists, by id, CSV exports, reports, trace, validation runs, deliveries) —
 * the way an API hides fields by key type, never per endpoint. A route asks `view(resource,
 * principal)` for its rows; a role with no list for a resource is refused (403) before anything
 * is read. A column added to a table later stays hidden from affiliates until it is listed here.
 *
 * Staff roles see every column but the write-only secrets; affiliates see the columns named for
 * them, of their own rows only (the routes scope rows by `principal.affiliateId`).
 */
import { HttpError } from "@roundtrip/service";
import type { Principal, Role } from "./auth.ts";

/** Every column except the secrets. */
export const EVERY_COLUMN = "every column but secrets" as const;
/** A role's allow-list for a resource; null = the role may not read it at all. */
export type Columns = readonly string[] | typeof EVERY_COLUMN | null;
export type Rule = Readonly<Record<Role, Columns>>;

// Secrets are write-only: hashes and secrets never leave the database through the API, whoever asks.
export const SECRET_COLUMNS: readonly string[] = [
  "token_hash",
  "key_hash",
  "secret",
  "secrets",
  "secret_hash",
  "signing_secret",
  "password_hash",
  "totp_secret",
  // ad-platform destinations (conversion_destinations): the platform token and Meta app secret
  "access_token",
  "app_secret",
  "oauth_client_secret",
  "oauth_refresh_token",
];

/** Operator data: every staff role reads all of it, affiliates what is listed (null: nothing). */
const staffAnd = (affiliate: readonly string[] | null): Rule => ({
  admin: EVERY_COLUMN,
  manager: EVERY_COLUMN,
  analyst: EVERY_COLUMN,
  affiliate,
});
const adminOnly: Rule = { admin: EVERY_COLUMN, manager: null, analyst: null, affiliate: null };

/** Report measures an affiliate sees (never revenue or profit: what the advertiser pays is the operator's). */
const REPORT_DIMENSIONS = [
  "hour",
  "day",
  "week",
  "month",
  "brand_id",
  "brand_name",
  "offer_id",
  "offer_name",
  "affiliate_id",
  "affiliate_name",
  "event",
  "sub1",
  "sub2",
  "sub3",
  "sub4",
  "sub5",
  "country",
];

export const VISIBILITY = {
  // Fraud rules, lists and verdicts are the operator's: no affiliate reads them.
  traffic_rules: staffAnd(null),
  ip_lists: staffAnd(null),
  conversion_reviews: staffAnd(null),
  conversion_rule_hits: staffAnd(null),
  affiliates: staffAnd(["id", "name", "payout_currency", "status", "created_at"]),
  brands: staffAnd(["id", "slug", "name", "currency", "timezone", "created_at"]),
  offers: staffAnd([
    "id",
    "brand_id",
    "name",
    "destination_url",
    "click_id_param",
    "currency",
    "status",
    "created_at",
    "events",
  ]),
  offer_events: staffAnd(["offer_id", "code", "window_days", "default_status"]),
  // parent_link_id: a routing destination's link, made for the smart link it belongs to (docs/routing.md).
  links: staffAnd([
    "id",
    "code",
    "offer_id",
    "affiliate_id",
    "status",
    "created_at",
    "tracking_url",
    "parent_link_id",
  ]),
  // Routing rules name other offers and the operator's choices: staff only.
  link_routing: staffAnd(null),
  // The visitor's IP address and user agent are never a partner's to see.
  clicks: staffAnd([
    "click_id",
    "clicked_at",
    "link_id",
    "offer_id",
    "affiliate_id",
    "brand_id",
    "referrer",
    "subs",
    "is_unique",
    // Not `reasons`: fraud flags are the operator's judgement, not the partner's to read.
    "device_type",
    "os",
    "browser",
    // The visitor's country and the partner's own link it followed; not the operator's rule ids.
    "country",
    "via_link_id",
  ]),
  conversions: staffAnd([
    "id",
    "brand_id",
    "offer_id",
    "affiliate_id",
    "link_id",
    "click_id",
    "clicked_at",
    "txid",
    "event",
    "status",
    "amount",
    "currency",
    "occurred_at",
    "created_at",
    "source",
    "subs",
    "is_test",
    // Over its cap: waiting for room before it earns (attribution's cap-blocks.ts).
    "cap_blocked_since",
    // Credited before its click row: waiting for it before it is announced (attribution's click-wait.ts).
    "awaiting_click_since",
    "history",
    "ledger",
  ]),
  /** The raw CSV export's columns (net ledger figures beside each conversion). */
  conversion_export: staffAnd([
    "id",
    "occurred_at",
    "created_at",
    "brand_id",
    "offer_id",
    "affiliate_id",
    "link_id",
    "click_id",
    "txid",
    "event",
    "status",
    "amount",
    "currency",
    "payout",
    "payout_currency",
    "is_test",
  ]),
  conversion_history: staffAnd(["conversion_id", "seq", "status", "reason", "at"]),
  // Revenue is what the advertiser pays, and how a figure was reached is the operator's.
  ledger_entries: staffAnd([
    "id",
    "conversion_id",
    "change_seq",
    "affiliate_id",
    "offer_id",
    "brand_id",
    "type",
    "payout",
    "currency",
    "affiliate_payout",
    "affiliate_currency",
    "created_at",
    "occurred_at",
    "available_at",
    "reverses_entry_id",
    "reason",
    "tier",
    "source_entry_id",
    "payout_line_id",
  ]),
  balances: staffAnd([
    "affiliate_id",
    "currency",
    "available",
    "pending",
    "total",
    "commission",
    "reversal",
    "adjustment",
    "sub_affiliate",
    "paid",
    "carryover",
    "entries",
  ]),
  // Masked by construction (the reference never leaves the database whole); an affiliate its own.
  payment_details: staffAnd([
    "affiliate_id",
    "method",
    "account_reference_masked",
    "account_holder",
    "bic",
    "vat_number",
    "vat_rate",
    "updated_at",
  ]),
  payout_settings: staffAnd([
    "affiliate_id",
    "cycle",
    "cycle_days",
    "cycle_anchor",
    "time_zone",
    "payout_hold",
    "payout_hold_reason",
    "parent_affiliate_id",
    "sub_share_percent",
    "sub_tier3_percent",
    "negative_carryover",
    "offer_carryover",
  ]),
  payout_minimums: staffAnd(null),
  payout_runs: staffAnd(null),
  sub_affiliate_earnings: staffAnd([
    "affiliate_id",
    "sub_affiliate_id",
    "sub_affiliate_name",
    "tier",
    "currency",
    "conversions",
    "earned",
    "reversed",
    "net",
  ]),
  statements: staffAnd([
    "id",
    "affiliate_id",
    "affiliate_name",
    "period_start",
    "period_end",
    "time_zone",
    "run_id",
    "created_at",
    "payment",
    "currencies",
  ]),
  // An affiliate's own payouts (the run's other lines and totals are the operator's).
  payout_lines: staffAnd([
    "id",
    "run_id",
    "affiliate_id",
    "currency",
    "amount",
    "period_start",
    "period_end",
    "method",
    "account_reference_masked",
    "status",
    "provider_reference",
    "failure_reason",
    "settled_at",
  ]),
  affiliate_postbacks: staffAnd([
    "id",
    "affiliate_id",
    "offer_id",
    "event",
    "method",
    "url_template",
    "body_template",
    "content_type",
    "partner_events",
    "status",
    "disabled_reason",
    "disabled_at",
    "failing_since",
    "last_success_at",
    "created_at",
    "updated_at",
  ]),
  webhook_secrets: staffAnd(["id", "affiliate_id", "hint", "created_at", "expires_at"]),
  // Where the operator's conversions go (ad platforms that bought the traffic): not a partner's.
  conversion_destinations: staffAnd(null),
  // The operator's own endpoints for partner events: staff only.
  operator_webhooks: staffAnd(null),
  deliveries: staffAnd([
    "id",
    "conversion_id",
    "change_seq",
    "template_id",
    "affiliate_id",
    "method",
    "url",
    "body",
    "content_type",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "delivered_at",
    "last_status_code",
    "last_error",
    "dead_at",
    "replays",
  ]),
  delivery_attempts: staffAnd([
    "id",
    "delivery_id",
    "attempt",
    "started_at",
    "latency_ms",
    "status_code",
    "error",
    "response_excerpt",
    "url",
    "outcome",
    "retry_after_s",
  ]),
  performance_report: staffAnd([
    ...REPORT_DIMENSIONS,
    "currency",
    "clicks",
    "unique_clicks",
    "conversions",
    "pending",
    "approved",
    "rejected",
    "reversed",
    "cr",
    "approval_rate",
    "amount",
    "payout",
  ]),
  delivery_report: staffAnd([
    ...REPORT_DIMENSIONS,
    "deliveries",
    "delivered",
    "pending",
    "failed",
    "dead",
    "attempts",
    "success_rate",
  ]),
  // Staff only: advertiser traffic, terms and the operator's own records.
  advertisers: staffAnd(null),
  payout_rules: staffAnd(null),
  audit_log: staffAnd(null),
  validation_runs: staffAnd(null),
  imports: staffAnd(null),
  fx_rates: staffAnd(null),
  trace: staffAnd(null),
  attention: staffAnd(null),
  postback_report: staffAnd(null),
  pixel_gap_report: staffAnd(null),
  reconciliation: staffAnd(null),
  api_keys: adminOnly,
  // People: admins only, and never how they sign in (hash, TOTP secret and last step).
  users: {
    admin: [
      "id",
      "email",
      "name",
      "role",
      "affiliate_id",
      "totp_enabled_at",
      "disabled_at",
      "created_at",
      "updated_at",
      "last_sign_in_at",
    ],
    manager: null,
    analyst: null,
    affiliate: null,
  },
  user_invitations: {
    admin: [
      "id",
      "email",
      "name",
      "role",
      "affiliate_id",
      "invited_by",
      "created_at",
      "expires_at",
      "accepted_at",
      "revoked_at",
      "user_id",
    ],
    manager: null,
    analyst: null,
    affiliate: null,
  },
} as const satisfies Record<string, Rule>;

export type Resource = keyof typeof VISIBILITY;
type Row = Record<string, unknown>;

export function columnsFor(resource: Resource, role: Role): Columns {
  return VISIBILITY[resource][role];
}

export function canRead(resource: Resource, principal: Principal): boolean {
  return columnsFor(resource, principal.role) !== null;
}

/** 403 unless the principal's role may read the resource. */
export function assertCanRead(resource: Resource, principal: Principal): void {
  if (!canRead(resource, principal))
    throw new HttpError(
      403,
      "forbidden",
      `role ${principal.role} cannot read ${resource.replace(/_/g, "-")}`,
    );
}

/** A row with only the columns `columns` allows (secrets never). */
export function pick<T extends Row>(row: T, columns: Columns): T {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) {
    if (SECRET_COLUMNS.includes(k)) continue;
    if (columns === EVERY_COLUMN || columns?.includes(k)) out[k] = v;
  }
  return out as T;
}

/**
 * The shaper a read path applies to each row of `resource` it returns: refuses (403) a role that
 * may not read it, and keeps only the role's columns.
 */
export function view(resource: Resource, principal: Principal): <T extends Row>(row: T) => T {
  assertCanRead(resource, principal);
  const columns = columnsFor(resource, principal.role);
  return (row) => pick(row, columns);
}

/** The CSV columns of `resource` the principal may read, in the order given. */
export function visibleColumns(resource: Resource, principal: Principal, all: readonly string[]): string[] {
  assertCanRead(resource, principal);
  const columns = columnsFor(resource, principal.role);
  return all.filter((c) => !SECRET_COLUMNS.includes(c) && (columns === EVERY_COLUMN || columns?.includes(c)));
}

/** Secrets removed, nothing else: for what is written (audit entries), not read by a role. */
export function withoutSecrets<T extends Row>(row: T): T {
  return pick(row, EVERY_COLUMN);
}

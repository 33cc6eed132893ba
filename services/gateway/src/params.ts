import { isUnreplacedMacro } from "@roundtrip/contracts";
import { Type as t } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

/** Aliases every advertiser gets; an advertiser's own aliases (admin) take precedence. */
export const DEFAULT_ALIASES: Record<string, string> = {
  cid: "click_id",
  clickid: "click_id",
  click: "click_id",
  subid: "click_id",
  aff_sub: "click_id",
  transaction_id: "txid",
  tid: "txid",
  order_id: "txid",
  goal: "event",
  event_type: "event",
  sum: "amount",
  value: "amount",
  revenue: "amount",
  cur: "currency",
  ts: "timestamp",
  time: "timestamp",
};

const Decimal = t.String({
  pattern: "^\\d{1,14}(\\.\\d{1,6})?$",
  description: "a non-negative decimal like 100.50",
});

export const PostbackParams = t.Object(
  {
    click_id: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
    txid: t.Optional(t.String({ minLength: 1, maxLength: 200, pattern: "^[\\x21-\\x7E]+$" })),
    event: t.String({ pattern: "^[a-z0-9_]{1,40}$", description: "an event code configured on the offer" }),
    amount: t.Optional(Decimal),
    payout: t.Optional(Decimal),
    currency: t.Optional(t.String({ pattern: "^[A-Z]{3}$", description: "ISO 4217" })),
    status: t.Optional(
      t.Union([t.Literal("pending"), t.Literal("approved"), t.Literal("rejected"), t.Literal("reversed")]),
    ),
    timestamp: t.Optional(t.String({ maxLength: 40 })),
    brand: t.Optional(t.String({ pattern: "^[a-z0-9][a-z0-9-]{0,62}$" })),
    token: t.Optional(t.String({ maxLength: 256 })),
  },
  { additionalProperties: true },
);
export type PostbackParams = typeof PostbackParams.static;

export type FieldError = { field: string; message: string };

/**
 * Raw request parameters → canonical names. A repeated parameter (`?event=a&event=b`) is
 * ambiguous and rejected rather than guessed; values are trimmed; currency is upper-cased.
 */
export function canonicalise(
  raw: Record<string, unknown>,
  aliases: Record<string, string>,
): { params: Record<string, string>; errors: FieldError[] } {
  const params: Record<string, string> = {};
  const errors: FieldError[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const key = aliases[name] ?? DEFAULT_ALIASES[name] ?? name;
    if (Array.isArray(value)) {
      errors.push({ field: key, message: "is given more than once" });
      continue;
    }
    if (value === undefined || value === null || value === "") continue;
    if (typeof value === "object") {
      errors.push({ field: key, message: "must be a single value" });
      continue;
    }
    if (key in params) {
      errors.push({ field: key, message: `is given more than once (as ${name})` });
      continue;
    }
    params[key] = String(value).trim();
  }
  if (params.currency) params.currency = params.currency.toUpperCase();
  if (params.event) params.event = params.event.toLowerCase();
  return { params, errors };
}

/** TypeBox validation with one message per field, plus the integration mistakes worth naming. */
export function validate(params: Record<string, string>): { value?: PostbackParams; errors: FieldError[] } {
  const errors: FieldError[] = [];
  for (const field of ["click_id", "txid", "event", "amount"]) {
    const v = params[field];
    if (v !== undefined && isUnreplacedMacro(v)) {
      errors.push({
        field,
        message: `holds the literal macro ${v}: the advertiser's system did not substitute it`,
      });
    }
  }
  if (errors.length) return { errors };
  for (const e of Value.Errors(PostbackParams, params)) {
    const field = e.path.replace(/^\//, "") || "(params)";
    if (!errors.some((x) => x.field === field))
      errors.push({
        field,
        message: e.schema.description ? `${e.message} (${e.schema.description})` : e.message,
      });
  }
  if (errors.length) return { errors };
  if (params.timestamp !== undefined && parseTimestamp(params.timestamp) === null) {
    return { errors: [{ field: "timestamp", message: "must be ISO 8601 or Unix seconds" }] };
  }
  return { value: params as PostbackParams, errors };
}

export function parseTimestamp(value: string): Date | null {
  const date = /^\d{9,11}$/.test(value)
    ? new Date(Number(value) * 1000)
    : /^\d{4}-\d{2}-\d{2}/.test(value)
      ? new Date(value)
      : null;
  return date && !Number.isNaN(date.getTime()) ? date : null;
}

const SECRET_PARAMS = new Set(["token", "signature", "sig", "secret", "key", "api_key"]);

/** What the request log keeps: every parameter, secrets masked. */
export function maskSecrets(raw: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(raw).map(([k, v]) => [k, SECRET_PARAMS.has(k.toLowerCase()) ? "***" : v]),
  );
}

import { CurrencyCode, escapeUnstorable, isUnreplacedMacro, unstorable } from "@roundtrip/contracts";
import { Type as t } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";

/** Aliases every advertiser gets; an advertiser's own aliases (admin) take precedence. */
export const DEFAULT_ALIASES: Readonly<Record<string, string>> = {
  cid: "click_id",
  clickid: "click_id",
  click: "click_id",
  subid: "click_id",
  aff_sub: "click_id",
  transaction_id: "txid",
  tid: "txid",
  order_id: "txid",
  original_txid: "ref_txid",
  parent_txid: "ref_txid",
  original_transaction_id: "ref_txid",
  goal: "event",
  event_type: "event",
  sum: "amount",
  value: "amount",
  revenue: "amount",
  cur: "currency",
  ts: "timestamp",
  time: "timestamp",
};

/** The canonical parameter names (the contract's, plus ref_txid for refunds and chargebacks). */
export const CANONICAL_PARAMS = [
  "click_id",
  "txid",
  "ref_txid",
  "event",
  "amount",
  "payout",
  "currency",
  "status",
  "timestamp",
  "brand",
  "token",
] as const;

const MAX_PARAMS = 64;
const MAX_NAME_LENGTH = 64;
const MAX_VALUE_LENGTH = 2048;

const Decimal = t.String({
  pattern: "^\\d{1,14}(\\.\\d{1,6})?$",
  description: "a non-negative decimal like 100.50",
});
const TxId = t.String({
  minLength: 1,
  maxLength: 200,
  pattern: "^[\\x21-\\x7E]+$",
  description: "printable ASCII without spaces, at most 200 characters",
});

export const PostbackParams = t.Object(
  {
    click_id: t.Optional(t.String({ minLength: 1, maxLength: 64 })),
    txid: t.Optional(TxId),
    ref_txid: t.Optional(TxId),
    event: t.String({ pattern: "^[a-z0-9_]{1,40}$", description: "an event code configured on the offer" }),
    amount: t.Optional(Decimal),
    payout: t.Optional(Decimal),
    currency: t.Optional(CurrencyCode),
    status: t.Optional(
      t.Union([t.Literal("pending"), t.Literal("approved"), t.Literal("rejected"), t.Literal("reversed")], {
        description: "pending, approved, rejected or reversed",
      }),
    ),
    timestamp: t.Optional(t.String({ maxLength: 40 })),
    brand: t.Optional(t.String({ pattern: "^[a-z0-9][a-z0-9-]{0,62}$", description: "a brand slug" })),
    token: t.Optional(t.String({ maxLength: 256 })),
  },
  { additionalProperties: true },
);
export type PostbackParams = typeof PostbackParams.static;
// Compiled once: a valid postback is checked without walking the schema per request.
const checkParams = TypeCompiler.Compile(PostbackParams);

export type FieldError = { field: string; message: string };
export type Params = Record<string, string>;

/**
 * Raw request parameters → canonical names. A repeated parameter (`?event=a&event=b`) is
 * ambiguous and rejected rather than guessed; values are trimmed; currency is upper-cased and the
 * event lower-cased. The result has no prototype, so a parameter named `__proto__` is just a name.
 * A NUL or a lone surrogate in any name or value is refused by name (400), whether or not the
 * parameter is one we read: no advertiser sends one on purpose, and none can be stored.
 */
export function canonicalise(
  raw: Record<string, unknown>,
  aliases: Readonly<Record<string, string>>,
): { params: Params; errors: FieldError[] } {
  const params: Params = Object.create(null);
  const errors: FieldError[] = [];
  const entries = Object.entries(raw);
  if (entries.length > MAX_PARAMS) {
    return {
      params,
      errors: [{ field: "(params)", message: `at most ${MAX_PARAMS} parameters are accepted` }],
    };
  }
  for (const [name, value] of entries) {
    const badName = unstorable(name);
    if (badName) {
      errors.push({
        field: escapeUnstorable(name.slice(0, MAX_NAME_LENGTH)),
        message: `the name ${badName}`,
      });
      continue;
    }
    if (name.length > MAX_NAME_LENGTH) {
      errors.push({
        field: name.slice(0, MAX_NAME_LENGTH),
        message: `parameter names are at most ${MAX_NAME_LENGTH} characters`,
      });
      continue;
    }
    const key = canonicalName(name, aliases);
    if (Array.isArray(value)) {
      errors.push({ field: key, message: "is given more than once" });
      continue;
    }
    if (value === undefined || value === null || value === "") continue;
    if (typeof value === "object") {
      errors.push({ field: key, message: "must be a single value, not an object" });
      continue;
    }
    const text = String(value).trim();
    const badValue = unstorable(text);
    if (badValue) {
      errors.push({ field: key, message: badValue });
      continue;
    }
    if (text.length > MAX_VALUE_LENGTH) {
      errors.push({ field: key, message: `is longer than ${MAX_VALUE_LENGTH} characters` });
      continue;
    }
    if (text === "") continue;
    if (key in params) {
      errors.push({ field: key, message: `is given more than once (as ${name})` });
      continue;
    }
    params[key] = text;
  }
  if (params.currency) params.currency = params.currency.toUpperCase();
  if (params.event) params.event = params.event.toLowerCase();
  if (params.status) params.status = params.status.toLowerCase();
  return { params, errors };
}

export function canonicalName(name: string, aliases: Readonly<Record<string, string>>): string {
  return (
    (Object.hasOwn(aliases, name) ? aliases[name] : undefined) ??
    (Object.hasOwn(DEFAULT_ALIASES, name) ? DEFAULT_ALIASES[name] : undefined) ??
    name
  );
}

// Every parameter but the secret may carry a literal macro worth naming.
const MACRO_CHECKED: readonly string[] = CANONICAL_PARAMS.filter((p) => p !== "token");

/** TypeBox validation with one message per field, plus the integration mistakes worth naming. */
export function validate(params: Params): { value?: PostbackParams; errors: FieldError[]; macro?: boolean } {
  const errors: FieldError[] = [];
  for (const field of MACRO_CHECKED) {
    const v = params[field];
    if (v !== undefined && isUnreplacedMacro(v)) {
      errors.push({
        field,
        message: `holds the literal macro ${v}: the advertiser's system did not substitute it`,
      });
    }
  }
  if (errors.length) return { errors, macro: true };
  if (!checkParams.Check(params))
    for (const e of checkParams.Errors(params)) {
      const field = e.path.replace(/^\//, "") || "(params)";
      if (!errors.some((x) => x.field === field)) {
        errors.push({
          field,
          message: e.schema.description ? `${e.message} (${e.schema.description})` : e.message,
        });
      }
    }
  if (errors.length) return { errors };
  if (params.timestamp !== undefined) {
    const at = parseTimestamp(params.timestamp);
    if (at === null) return { errors: [{ field: "timestamp", message: "must be ISO 8601 or Unix seconds" }] };
    if (at.getTime() > Date.now() + MAX_FUTURE_MS) {
      return { errors: [{ field: "timestamp", message: "is more than a day in the future" }] };
    }
    if (at.getTime() < EARLIEST.getTime())
      return { errors: [{ field: "timestamp", message: "is before 2000" }] };
  }
  return { value: params as PostbackParams, errors };
}

const MAX_FUTURE_MS = 24 * 3_600_000;
const EARLIEST = new Date("2000-01-01T00:00:00Z");

/**
 * ISO 8601 (a date-time without a zone is UTC, never the server's local time), Unix seconds, or
 * Unix milliseconds (13 digits).
 */
export function parseTimestamp(value: string): Date | null {
  let date: Date | null = null;
  if (/^\d{9,11}$/.test(value)) date = new Date(Number(value) * 1000);
  else if (/^\d{13}$/.test(value)) date = new Date(Number(value));
  else if (/^\d{4}-\d{2}-\d{2}$/.test(value)) date = new Date(`${value}T00:00:00Z`);
  else if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(value)) {
    const iso = value.replace(" ", "T");
    date = new Date(/(Z|[+-]\d{2}:?\d{2})$/i.test(iso) ? iso : `${iso}Z`);
  }
  return date && !Number.isNaN(date.getTime()) ? date : null;
}

const SECRET_PARAMS = new Set([
  "token",
  "signature",
  "sig",
  "secret",
  "key",
  "api_key",
  "apikey",
  "password",
  "pass",
]);

/** What the request log keeps: every parameter, secrets (and aliases of the token) masked. */
export function maskSecrets(
  raw: Record<string, unknown>,
  aliases: Readonly<Record<string, string>> = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const secret = SECRET_PARAMS.has(k.toLowerCase()) || canonicalName(k, aliases) === "token";
    Object.defineProperty(out, k, {
      value: secret ? "***" : v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

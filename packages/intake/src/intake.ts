import type { ClickIdCodec, ClickIdClaims } from "@roundtrip/clickid";
import { escapeUnstorableDeep, isUnreplacedMacro, REVERSAL_EVENTS } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { type SignedRequest, SIGNATURE_TOLERANCE_S, tokenMatches, verifySignature } from "./auth.ts";
import type { AdvertiserEntry, Directory, LinkEntry } from "./directory.ts";
import type { DirectoryLookup } from "./directory-lookup.ts";
import { ipAllowed, truncateIp } from "./ip.ts";
import {
  canonicalise,
  canonicalName,
  type FieldError,
  maskSecrets,
  type Params,
  parseTimestamp,
  validate,
} from "./params.ts";
import { type ReceiptRow, ReceiptWriter, type Written, writeReceipts } from "./receipts.ts";
import type { LogRow, RequestLog } from "./request-log.ts";

export type Source = "s2s" | "pixel" | "import";

/** The `outcome` label of roundtrip_postbacks_total and of every postback_log row. */
export const OUTCOMES = [
  "accepted",
  "duplicate",
  "unauthorized",
  "forbidden",
  "invalid",
  "unknown_click",
  "rate_limited",
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Where a postback came from decides which checks apply to it. */
export type Channel =
  /** An advertiser's server: token, signature and IP allowlist as the advertiser has them configured. */
  | { kind: "s2s"; method: string; ip: string | null; signed: SignedRequest }
  /** A browser pixel: cannot hold a secret, so only advertisers that opted in accept it; no payout or status. */
  | { kind: "pixel"; method: string; ip: string | null; cookieClickId: string | null }
  /**
   * A CSV row uploaded by an operator (already authenticated by admin), optionally for one
   * advertiser. `dedupScope` gives the operator's own reports (review decisions) dedup keys of
   * their own, so a reviewer's `approved` is not a duplicate of the advertiser's `approved`.
   */
  | { kind: "import"; importId: string; row: number; advertiserId: string | null; dedupScope?: string };

export type IntakeRequest = {
  channel: Channel;
  /** Parameters as received (query, JSON or form body, CSV row); repeated names as arrays. */
  raw: Record<string, unknown>;
  /** The brand of a per-brand endpoint (`/postback/<brand>`). */
  pathBrand?: string;
};

export type Admission = { ok: true } | { ok: false; retryAfterS: number };

export type IntakeDeps = {
  sql: Sql;
  codec: ClickIdCodec;
  directory: () => Directory;
  /**
   * Looks up a link or an offer's event the held directory lacks (created moments ago) before
   * refusing, and reloads the directory only when the database has it (see DirectoryLookup).
   */
  lookup?: Pick<DirectoryLookup, "link" | "event">;
  log: RequestLog;
  /** Rate limit per advertiser (the gateway's); none for imports. */
  admit?: (advertiser: AdvertiserEntry) => Admission | Promise<Admission>;
  /** Truncation of browser IPs (pixel hits) in the log. */
  ipMode?: "none" | "last-octet";
  /**
   * Called after an accepted receipt committed, to wake the local outbox relay. The receipt's
   * statement deliberately sends no NOTIFY: PostgreSQL serialises the commits of notifying
   * transactions, which would cap intake at one commit per disk flush.
   */
  onCommitted?: () => void;
  /** Group commit of accepted receipts; one per pool is made when absent. */
  receipts?: ReceiptWriter;
};

export type Decision = {
  status: number;
  outcome: Outcome;
  reason: string | null;
  advertiserId: string | null;
  brandId: string | null;
  receiptId: string | null;
  duplicate: boolean;
  errors?: FieldError[];
  retryAfterS?: number;
  body: Record<string, unknown>;
};

type Known = { advertiser?: AdvertiserEntry; link?: LinkEntry };

/**
 * The one intake path, shared by the gateway (S2S and pixel) and admin (CSV import): canonical
 * parameters, click ID verification, the advertiser's authentication, rate limit, validation,
 * then one atomic write of the receipt, its log row and its outbox event. The caller answers
 * 200 only after that write; a retry lands on the same receipt and is reported as a duplicate.
 * Every request that is not accepted is logged too, with its reason.
 */
export async function receive(deps: IntakeDeps, req: IntakeRequest): Promise<Decision> {
  const known: Known = {};
  const decision = await decide(deps, req, known);
  if (decision.outcome !== "accepted" && decision.outcome !== "duplicate") {
    await deps.log.write(logRow(deps, req, decision, known.advertiser?.aliases ?? {}));
  }
  return decision;
}

/** Logs and answers a request refused before its parameters could be read (body too large, not JSON). */
export async function refuse(
  deps: Pick<IntakeDeps, "log" | "ipMode">,
  req: IntakeRequest,
  r: { status: number; reason: string; message: string },
): Promise<Decision> {
  const decision = reject(r.status, "invalid", r.reason, r.message, {});
  await deps.log.write(logRow(deps, req, decision, {}));
  return decision;
}

function reject(
  status: number,
  outcome: Outcome,
  reason: string,
  message: string,
  known: Known,
  errors?: FieldError[],
): Decision {
  return {
    status,
    outcome,
    reason,
    advertiserId: known.advertiser?.id ?? null,
    brandId: known.link?.brandId ?? null,
    receiptId: null,
    duplicate: false,
    ...(errors ? { errors } : {}),
    body: {
      status: "rejected",
      error: { code: reason, message, ...(errors?.length ? { field: errors[0]?.field, errors } : {}) },
    },
  };
}

const describe = (errors: FieldError[]) => errors.map((e) => `${e.field}: ${e.message}`).join("; ");
const invalid = (reason: string, errors: FieldError[], known: Known) =>
  reject(400, "invalid", reason, describe(errors), known, errors);

async function decide(deps: IntakeDeps, req: IntakeRequest, known: Known): Promise<Decision> {
  let dir = deps.directory();
  const ch = req.channel;

  if (req.pathBrand !== undefined && !dir.brands.has(req.pathBrand)) {
    return reject(404, "invalid", "unknown_brand", `brand: no brand "${req.pathBrand}"`, known, [
      { field: "brand", message: "no such brand" },
    ]);
  }

  // The click ID names the link, hence the advertiser whose aliases and checks apply.
  const located = locateClickId(req.raw, dir, deps.codec, ch.kind === "pixel" ? ch.cookieClickId : null);
  if (located.kind === "missing") {
    return invalid("missing_click_id", [{ field: "click_id", message: "is required" }], known);
  }
  if (located.kind === "macro") {
    return invalid(
      "unreplaced_macro",
      [
        {
          field: "click_id",
          message: `holds the literal macro ${located.value}: the advertiser's system did not substitute it`,
        },
      ],
      known,
    );
  }
  if (located.kind === "bad") {
    return reject(
      422,
      "unknown_click",
      `click_id_${located.reason}`,
      `click_id: not a click ID issued by this tracker (${located.reason})`,
      known,
    );
  }
  let link = dir.links.get(located.claims.linkId);
  if (!link && deps.lookup) {
    const fresh = await deps.lookup.link(located.claims.linkId);
    if (fresh) {
      dir = fresh;
      link = dir.links.get(located.claims.linkId);
    }
  }
  if (!link)
    return reject(
      422,
      "unknown_click",
      "click_id_unknown_link",
      "click_id: its tracking link does not exist",
      known,
    );
  known.link = link;
  const advertiser = dir.advertisers.get(link.advertiserId);
  if (!advertiser)
    return reject(
      422,
      "unknown_click",
      "click_id_unknown_advertiser",
      "click_id: its advertiser does not exist",
      known,
    );
  known.advertiser = advertiser;

  const { params, errors } = canonicalise(req.raw, advertiser.aliases);
  if (errors.length) return invalid("invalid_parameters", errors, known);
  if (ch.kind === "pixel" && params.click_id === undefined && located.fromCookie)
    params.click_id = located.value;
  if (params.click_id !== located.value) {
    return invalid(
      "invalid_parameters",
      [{ field: "click_id", message: "is ambiguous: several parameters carry a click ID" }],
      known,
    );
  }
  if (req.pathBrand !== undefined) {
    if (params.brand !== undefined && params.brand !== req.pathBrand) {
      return invalid(
        "invalid_parameters",
        [{ field: "brand", message: `differs from the endpoint's brand ${req.pathBrand}` }],
        known,
      );
    }
    params.brand = req.pathBrand;
  }

  const denied = authenticate(ch, advertiser, params, known);
  if (denied) return denied;
  if (!advertiser.active)
    return reject(403, "forbidden", "advertiser_paused", "the advertiser is paused", known);
  if (ch.kind !== "import" && deps.admit) {
    const admitted = await deps.admit(advertiser);
    if (!admitted.ok) {
      return {
        ...reject(429, "rate_limited", "rate_limited", "too many postbacks; retry later", known),
        retryAfterS: admitted.retryAfterS,
      };
    }
  }

  if (ch.kind === "pixel") {
    // A pixel fires from the visitor's browser: it may report an event, never set money or status.
    delete params.payout;
    delete params.status;
  }
  delete params.token;
  const checked = validate(params);
  if (!checked.value)
    return invalid(checked.macro ? "unreplaced_macro" : "invalid_parameters", checked.errors, known);
  const p = checked.value;
  if (p.brand !== undefined && p.brand !== link.brand) {
    return reject(
      422,
      "unknown_click",
      "brand_mismatch",
      "brand: the click belongs to another brand",
      known,
      [{ field: "brand", message: `the click belongs to brand ${link.brand}` }],
    );
  }
  if (!REVERSAL_EVENTS.includes(p.event) && !link.events.includes(p.event)) {
    // The event may have been added to the offer a moment ago: look before refusing.
    const fresh = (await deps.lookup?.event(link.offerId, p.event))?.links.get(located.claims.linkId);
    if (fresh) known.link = link = fresh;
    if (!link.events.includes(p.event)) return unknownEvent(p.event, link, known);
  }
  if (REVERSAL_EVENTS.includes(p.event) && !p.txid && !p.ref_txid) {
    return invalid(
      "missing_reference",
      [{ field: "txid", message: `is required for ${p.event}: the transaction it reverses (or ref_txid)` }],
      known,
    );
  }

  const result = await commit(deps.sql, deps.receipts, {
    advertiser,
    link,
    clickId: located.value,
    p,
    source: ch.kind,
    dedupScope: ch.kind === "import" ? ch.dedupScope : undefined,
    signature: ch.kind === "s2s" ? (known as KnownSigned).signature : undefined,
    log: logRow(deps, req, null, advertiser.aliases),
  });
  if (result === "replayed") {
    return reject(
      401,
      "unauthorized",
      "signature_replayed",
      "the signature was already used: sign each request afresh",
      known,
    );
  }
  if (!result.duplicate) deps.onCommitted?.();
  return {
    status: 200,
    outcome: result.duplicate ? "duplicate" : "accepted",
    reason: null,
    advertiserId: advertiser.id,
    brandId: link.brandId,
    receiptId: result.receiptId,
    duplicate: result.duplicate,
    body: { status: "accepted", receipt_id: result.receiptId, duplicate: result.duplicate },
  };
}

/** 422: the advertiser is told now, with the events it can send, instead of a 200 and a silent rejection later. */
function unknownEvent(event: string, link: LinkEntry, known: Known): Decision {
  const events = [...link.events, ...REVERSAL_EVENTS];
  const decision = reject(
    422,
    "invalid",
    "unknown_event",
    `event: "${event}" is not an event of this offer; it has ${events.join(", ")}`,
    known,
    [{ field: "event", message: `"${event}" is not an event of this offer` }],
  );
  (decision.body.error as Record<string, unknown>).events = events;
  return decision;
}

type KnownSigned = Known & { signature?: { value: string; expiresAt: Date } };

/** Every check the advertiser has configured must pass; an S2S request with none configured is open. */
function authenticate(
  ch: Channel,
  advertiser: AdvertiserEntry,
  params: Params,
  known: KnownSigned,
): Decision | null {
  if (ch.kind === "pixel") {
    return advertiser.pixelEnabled
      ? null
      : reject(
          403,
          "forbidden",
          "pixel_disabled",
          "this advertiser does not accept pixel conversions",
          known,
        );
  }
  if (ch.kind === "import") {
    if (ch.advertiserId !== null && ch.advertiserId !== advertiser.id) {
      return reject(
        422,
        "unknown_click",
        "advertiser_mismatch",
        "click_id: the click belongs to another advertiser",
        known,
      );
    }
    return null;
  }
  if (advertiser.allowlist.length > 0 && !ipAllowed(ch.ip, advertiser.allowlist)) {
    return reject(
      403,
      "forbidden",
      "ip_not_allowed",
      "the request's IP address is not on the advertiser's allowlist",
      known,
    );
  }
  if (advertiser.signingSecrets.length > 0) {
    const check = verifySignature(ch.signed, advertiser.signingSecrets);
    if (!check.ok) {
      const messages = {
        signature_missing: "the X-Roundtrip-Signature header is required",
        signature_malformed:
          "the X-Roundtrip-Signature header must look like t=<unix seconds>,v1=<hex HMAC-SHA256>",
        signature_expired: `the signature's timestamp is more than ${SIGNATURE_TOLERANCE_S} seconds from now`,
        signature_invalid: "the signature does not match the request",
      };
      return reject(401, "unauthorized", check.reason, messages[check.reason], known);
    }
    known.signature = { value: check.signature, expiresAt: new Date(check.expiresAt.getTime() + 1000) };
  }
  if (advertiser.tokenHash !== null) {
    if (!params.token) return reject(401, "unauthorized", "missing_token", "token: is required", known);
    if (!tokenMatches(params.token, advertiser.tokenHash))
      return reject(401, "unauthorized", "bad_token", "token: is not valid", known);
  }
  return null;
}

type Located =
  | { kind: "ok"; value: string; claims: ClickIdClaims; fromCookie: boolean }
  | { kind: "missing" }
  | { kind: "macro"; value: string }
  | { kind: "bad"; reason: string };

/**
 * Before the advertiser is known, any parameter that some advertiser (or the defaults) names
 * click_id may carry it; the first that verifies wins. A pixel falls back to the cookie.
 */
function locateClickId(
  raw: Record<string, unknown>,
  dir: Directory,
  codec: ClickIdCodec,
  cookie: string | null,
): Located {
  const candidates: string[] = [];
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value !== "string" || value.trim() === "") continue;
    if (canonicalName(name, {}) === "click_id" || dir.clickIdAliases.has(name)) candidates.push(value.trim());
  }
  let firstFailure: Located | undefined;
  for (const value of candidates) {
    const verified = codec.verify(value);
    if (verified.ok) return { kind: "ok", value, claims: verified.claims, fromCookie: false };
    firstFailure ??= isUnreplacedMacro(value)
      ? { kind: "macro", value }
      : { kind: "bad", reason: verified.reason };
  }
  if (firstFailure) return firstFailure;
  if (cookie) {
    const verified = codec.verify(cookie);
    return verified.ok
      ? { kind: "ok", value: cookie, claims: verified.claims, fromCookie: true }
      : { kind: "bad", reason: verified.reason };
  }
  return { kind: "missing" };
}

function logRow(
  deps: Pick<IntakeDeps, "ipMode">,
  req: IntakeRequest,
  d: Decision | null,
  aliases: Record<string, string>,
): LogRow {
  const ch = req.channel;
  return {
    advertiser_id: d?.advertiserId ?? null,
    brand_id: d?.brandId ?? null,
    source: ch.kind,
    method: ch.kind === "import" ? "CSV" : ch.method,
    // The record of what arrived, with what PostgreSQL cannot hold made visible rather than fatal.
    params: escapeUnstorableDeep(maskSecrets(req.raw, aliases)) as Record<string, unknown>,
    ip: ch.kind === "pixel" ? truncateIp(ch.ip, deps.ipMode ?? "none") : ch.kind === "s2s" ? ch.ip : null,
    outcome: d?.outcome ?? "accepted",
    reason: d?.reason ?? null,
    http_status: d?.status ?? 200,
    receipt_id: null,
    import_id: ch.kind === "import" ? ch.importId : null,
    import_row: ch.kind === "import" ? ch.row : null,
  };
}

type CommitInput = {
  advertiser: AdvertiserEntry;
  link: LinkEntry;
  clickId: string;
  p: ReturnType<typeof validate>["value"] & object;
  source: Source;
  dedupScope?: string;
  signature: { value: string; expiresAt: Date } | undefined;
  log: LogRow;
};

const writers = new WeakMap<Sql, ReceiptWriter>();
const writerFor = (sql: Sql) => {
  const existing = writers.get(sql);
  if (existing) return existing;
  const created = new ReceiptWriter(sql);
  writers.set(sql, created);
  return created;
};

/**
 * The receipt, its log row and its outbox event in one atomic write, committed before the
 * answer. With a txid the dedup key is (txid, event, status) forever and the write is group-
 * committed with whatever else is arriving (receipts.ts); the unique key serialises concurrent
 * retries across batches and replicas. Without a txid, (click ID, event, status) repeats within
 * the advertiser's dedup window are duplicates: an advisory lock on that identity and a look-up
 * of the latest receipt precede the same statement, in one transaction. Pixel receipts dedup
 * among themselves; attribution decides how they meet S2S ones (S2S wins).
 */
async function commit(sql: Sql, writer: ReceiptWriter | undefined, c: CommitInput): Promise<Written> {
  const { p } = c;
  const scope = (c.source === "pixel" ? "px|" : "") + (c.dedupScope ? `${c.dedupScope}|` : "");
  const status = p.status ?? "";
  if (p.txid)
    return (writer ?? writerFor(sql)).write(receiptRow(c, `${scope}tx:${p.txid}|${p.event}|${status}`));
  return (await sql.begin(async (tx) => {
    const identity = `${scope}click:${c.clickId}|${p.event}|${status}`;
    await tx`select pg_advisory_xact_lock(hashtextextended(${`rcpt:${c.advertiser.id}:${identity}`}, 0))`;
    const [previous] = await tx<{ dedup_key: string }[]>`
      select dedup_key from postback_receipts
      where advertiser_id = ${c.advertiser.id} and click_id = ${c.clickId} and event = ${p.event} and txid is null
        and received_at > now() - make_interval(hours => ${c.advertiser.dedupWindowHours})
        and dedup_key like ${`${identity.replace(/[\\%_]/g, "\\$&")}|%`}
      order by received_at desc
      limit 1`;
    const key =
      previous?.dedup_key ?? `${identity}|${new Date().toISOString()}|${crypto.randomUUID().slice(0, 8)}`;
    const [written] = await writeReceipts(tx, [receiptRow(c, key)]);
    return written;
  })) as Written;
}

function receiptRow(c: CommitInput, dedupKey: string): ReceiptRow {
  const { p } = c;
  return {
    advertiser_id: c.advertiser.id,
    brand_id: c.link.brandId,
    dedup_key: dedupKey,
    source: c.source,
    click_id: c.clickId,
    txid: p.txid ?? null,
    ref_txid: p.ref_txid ?? null,
    event: p.event,
    status: p.status ?? null,
    amount: p.amount ?? null,
    payout: p.payout ?? null,
    currency: p.currency ?? null,
    occurred_at: p.timestamp ? (parseTimestamp(p.timestamp)?.toISOString() ?? null) : null,
    received_at: new Date().toISOString(),
    sig: c.signature?.value ?? null,
    sig_expires: c.signature?.expiresAt.toISOString() ?? null,
    log: c.log,
  };
}

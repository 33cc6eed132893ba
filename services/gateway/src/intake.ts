import { timingSafeEqual } from "node:crypto";
import { enqueue, subjects } from "@roundtrip/bus";
import type { ClickIdCodec } from "@roundtrip/clickid";
import type { PostbackReceived } from "@roundtrip/contracts";
import type { Sql, Tx } from "@roundtrip/db";
import type { ConfigCache } from "@roundtrip/service";
import type { Directory } from "./directory.ts";
import { canonicalise, type FieldError, maskSecrets, parseTimestamp, validate } from "./params.ts";

export type Outcome =
  | "accepted"
  | "duplicate"
  | "unauthorized"
  | "forbidden"
  | "invalid"
  | "unknown_click"
  | "rate_limited";

export type Decision = {
  status: number;
  outcome: Outcome;
  reason: string | null;
  advertiserId: string | null;
  body: Record<string, unknown>;
  receiptId?: string;
};

export type RequestMeta = { method: string; source: "s2s" | "pixel" | "import"; ip: string | null };

export type IntakeDeps = { sql: Sql; codec: ClickIdCodec; directory: ConfigCache<Directory> };

const reject = (
  status: number,
  outcome: Outcome,
  reason: string,
  message: string,
  advertiserId: string | null = null,
  errors?: FieldError[],
): Decision => ({
  status,
  outcome,
  reason,
  advertiserId,
  body: {
    status: "rejected",
    error: { code: reason, message, ...(errors ? { field: errors[0]?.field, errors } : {}) },
  },
});

/**
 * The intake path of one postback: canonical parameters, validation, click ID verification,
 * advertiser authentication, then one transaction that stores the receipt, the request log row
 * and the outbox event. The 200 is only decided after that commit; a retry of the same
 * postback lands on the same receipt (unique dedup key) and answers `duplicate: true`.
 */
export async function receive(
  deps: IntakeDeps,
  raw: Record<string, unknown>,
  meta: RequestMeta,
): Promise<Decision> {
  const decision = await decide(deps, raw, meta);
  if (decision.outcome !== "accepted" && decision.outcome !== "duplicate") {
    await logRequest(deps.sql, raw, meta, decision);
  }
  return decision;
}

async function decide(deps: IntakeDeps, raw: Record<string, unknown>, meta: RequestMeta): Promise<Decision> {
  const directory = deps.directory.current;
  const first = canonicalise(raw, {});
  if (first.errors.length)
    return reject(400, "invalid", "invalid_parameters", describe(first.errors), null, first.errors);

  const clickId = first.params.click_id;
  if (clickId === undefined) {
    return reject(400, "invalid", "missing_click_id", "click_id: is required", null, [
      { field: "click_id", message: "is required" },
    ]);
  }
  const checked = validate(first.params);
  if (!checked.value) {
    const macro = checked.errors.some((e) => e.message.includes("literal macro"));
    return reject(
      400,
      "invalid",
      macro ? "unreplaced_macro" : "invalid_parameters",
      describe(checked.errors),
      null,
      checked.errors,
    );
  }
  const verified = deps.codec.verify(clickId);
  if (!verified.ok) {
    return reject(
      422,
      "unknown_click",
      `click_id_${verified.reason}`,
      `click_id: not a click ID issued by this tracker (${verified.reason})`,
    );
  }
  const link = directory.links.get(verified.claims.linkId);
  if (!link)
    return reject(
      422,
      "unknown_click",
      "click_id_unknown_link",
      "click_id: its tracking link does not exist",
    );
  const advertiser = directory.advertisers.get(link.advertiserId);
  if (!advertiser)
    return reject(
      422,
      "unknown_click",
      "click_id_unknown_advertiser",
      "click_id: its advertiser does not exist",
    );

  // With the advertiser known, its own aliases apply (they may rename any parameter).
  const { params, errors } = Object.keys(advertiser.aliases).length
    ? canonicalise(raw, advertiser.aliases)
    : first;
  const final = errors.length ? { errors } : validate(params);
  if (!final.value) {
    return reject(400, "invalid", "invalid_parameters", describe(final.errors), advertiser.id, final.errors);
  }
  const p = final.value;

  if (advertiser.tokenHash !== null) {
    if (!p.token) return reject(401, "unauthorized", "missing_token", "token: is required", advertiser.id);
    if (!sameHash(p.token, advertiser.tokenHash))
      return reject(401, "unauthorized", "bad_token", "token: is not valid", advertiser.id);
  }
  if (!advertiser.active)
    return reject(403, "forbidden", "advertiser_paused", "the advertiser is paused", advertiser.id);
  if (p.brand !== undefined && p.brand !== link.brand) {
    return reject(
      422,
      "unknown_click",
      "brand_mismatch",
      "brand: the click belongs to another brand",
      advertiser.id,
    );
  }

  const occurredAt = p.timestamp ? parseTimestamp(p.timestamp) : null;
  // Dedup key: the advertiser's transaction ID when it sends one (no time limit); the same
  // status again is a retry, another status is a lifecycle change for attribution to judge.
  const identity = p.txid ? `tx:${p.txid}` : `click:${clickId}`;
  const dedupKey = `${identity}|${p.event}|${p.status ?? ""}`;

  return deps.sql.begin(async (tx) => {
    const [receipt] = await tx<{ id: string; inserted: boolean; received_at: Date }[]>`
      insert into postback_receipts
        (advertiser_id, brand_id, dedup_key, source, click_id, txid, event, status, amount, payout, currency, occurred_at)
      values (${advertiser.id}, ${link.brandId}, ${dedupKey}, ${meta.source}, ${clickId}, ${p.txid ?? null}, ${p.event},
              ${p.status ?? null}, ${p.amount ?? null}, ${p.payout ?? null}, ${p.currency ?? null}, ${occurredAt})
      on conflict (advertiser_id, dedup_key) do update set duplicates = postback_receipts.duplicates + 1
      returning id, (xmax = 0) as inserted, received_at`;
    if (!receipt) throw new Error("receipt upsert returned nothing");
    const duplicate = !receipt.inserted;
    if (!duplicate) {
      const event: PostbackReceived = {
        receipt_id: receipt.id,
        advertiser_id: advertiser.id,
        brand_id: link.brandId,
        source: meta.source,
        click_id: clickId,
        txid: p.txid ?? null,
        event: p.event,
        status: p.status ?? null,
        amount: p.amount ?? null,
        payout: p.payout ?? null,
        currency: p.currency ?? null,
        occurred_at: occurredAt?.toISOString() ?? null,
        received_at: receipt.received_at.toISOString(),
      };
      await enqueue(tx, {
        subject: subjects.postbackReceived(advertiser.id),
        payload: event,
        msgId: `pb:${advertiser.id}:${dedupKey}`,
      });
    }
    const decision: Decision = {
      status: 200,
      outcome: duplicate ? "duplicate" : "accepted",
      reason: null,
      advertiserId: advertiser.id,
      receiptId: receipt.id,
      body: { status: "accepted", receipt_id: receipt.id, duplicate },
    };
    await logRequest(tx, raw, meta, decision);
    return decision;
  });
}

function sameHash(token: string, expectedHex: string): boolean {
  const given = new Bun.CryptoHasher("sha256").update(token).digest();
  const expected = Buffer.from(expectedHex, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function describe(errors: FieldError[]): string {
  return errors.map((e) => `${e.field}: ${e.message}`).join("; ");
}

async function logRequest(
  sql: Sql | Tx,
  raw: Record<string, unknown>,
  meta: RequestMeta,
  d: Decision,
): Promise<void> {
  await sql`
    insert into postback_log (advertiser_id, source, method, params, ip, outcome, reason, http_status, receipt_id)
    values (${d.advertiserId}, ${meta.source}, ${meta.method}, ${sql.json(maskSecrets(raw) as never)}, ${meta.ip},
            ${d.outcome}, ${d.reason}, ${d.status}, ${d.receiptId ?? null})`;
}

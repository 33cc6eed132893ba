import type { Sql } from "@roundtrip/db";
import type { ReceivedPostback } from "./affiliate-endpoint.ts";
import type { Journey } from "./load.ts";

/**
 * What became of the acknowledged postbacks of a load, stage by stage: the conversion
 * (attribution), the ledger entry (commission), the delivery row and what the affiliate's endpoint
 * actually received (delivery). The promise under test: each acknowledged postback ends as exactly
 * one of each, and the affiliate sees one webhook-id per conversion (a resend reuses it).
 */
export type Audit = {
  counts: {
    acknowledged: number;
    converted: number;
    booked: number;
    delivered: number;
    /** Distinct webhook-ids the affiliate received for acknowledged txids. */
    webhookIds: number;
  };
  /** Requests the affiliate received beyond one per webhook-id (at-least-once resends). */
  resends: number;
  /**
   * Affiliate postbacks without the sub1 of their click (the load sets sub1 = txid). A conversion
   * waits for its click row before it is announced, so this counts clicks that were lost (a
   * CLICKS store wiped on a single node: a known exposure of that stream), nothing else.
   */
  withoutSub1: number;
  /** Each a broken promise, with a sample of txids; empty when everything holds. */
  problems: string[];
  /** When the affiliate first received the last of the acknowledged postbacks (ms epoch). */
  lastFirstReceivedAt: number | undefined;
};

type ConversionRow = { txid: string; booked: number; deliveries: number; delivered: number };

const SAMPLE = 8;

function problem(label: string, txids: string[]): string[] {
  if (txids.length === 0) return [];
  const sample = txids.slice(0, SAMPLE).join(", ");
  return [`${label}: ${txids.length} (e.g. ${sample}${txids.length > SAMPLE ? ", …" : ""})`];
}

export async function auditExactlyOnce(input: {
  sql: Sql;
  advertiserId: string;
  journeys: readonly Journey[];
  received: readonly ReceivedPostback[];
}): Promise<Audit> {
  const { sql, advertiserId, journeys, received } = input;
  const acked = journeys.filter((j) => j.outcome === "accepted" || j.outcome === "duplicate");
  const ackedTxids = new Set(acked.map((j) => j.txid));
  const sentTxids = new Set(journeys.map((j) => j.txid));

  const rows = (await sql`
    select c.txid,
      (select count(*) from ledger_entries l where l.conversion_id = c.id and l.type = 'commission')::int as booked,
      (select count(*) from deliveries d where d.conversion_id = c.id)::int as deliveries,
      (select count(*) from deliveries d where d.conversion_id = c.id and d.status = 'delivered')::int as delivered
    from conversions c
    where c.advertiser_id = ${advertiserId}`) as unknown as ConversionRow[];
  const conversionsByTxid = new Map<string, ConversionRow[]>();
  for (const row of rows) {
    if (!sentTxids.has(row.txid)) continue;
    conversionsByTxid.set(row.txid, [...(conversionsByTxid.get(row.txid) ?? []), row]);
  }

  const webhookIdsByTxid = new Map<string, Set<string>>();
  const firstReceivedAt = new Map<string, number>();
  let requests = 0;
  let withoutSub1 = 0;
  for (const p of received) {
    const txid = p.url.searchParams.get("tx");
    if (!txid || !sentTxids.has(txid)) continue;
    requests++;
    if (p.url.searchParams.get("s1") !== txid) withoutSub1++;
    const ids = webhookIdsByTxid.get(txid) ?? new Set<string>();
    ids.add(p.headers.get("webhook-id") ?? "(none)");
    webhookIdsByTxid.set(txid, ids);
    if (!firstReceivedAt.has(txid)) firstReceivedAt.set(txid, p.at);
  }
  const allWebhookIds = new Set([...webhookIdsByTxid.values()].flatMap((s) => [...s]));

  const missing = {
    conversion: [] as string[],
    ledger: [] as string[],
    delivery: [] as string[],
    affiliate: [] as string[],
  };
  const twice = {
    conversion: [] as string[],
    ledger: [] as string[],
    delivery: [] as string[],
    webhookId: [] as string[],
  };
  let converted = 0;
  let booked = 0;
  let delivered = 0;
  let webhookIds = 0;
  let lastFirstReceivedAt: number | undefined;
  for (const txid of ackedTxids) {
    const conversions = conversionsByTxid.get(txid) ?? [];
    if (conversions.length === 0) missing.conversion.push(txid);
    if (conversions.length > 1) twice.conversion.push(txid);
    if (conversions.length === 1) converted++;
    const bookedN = conversions.reduce((s, c) => s + c.booked, 0);
    if (conversions.length > 0 && bookedN === 0) missing.ledger.push(txid);
    if (bookedN > 1) twice.ledger.push(txid);
    if (bookedN === 1) booked++;
    const deliveriesN = conversions.reduce((s, c) => s + c.deliveries, 0);
    const deliveredN = conversions.reduce((s, c) => s + c.delivered, 0);
    if (bookedN > 0 && deliveredN === 0) missing.delivery.push(txid);
    if (deliveriesN > 1) twice.delivery.push(txid);
    if (deliveredN === 1 && deliveriesN === 1) delivered++;
    const ids = webhookIdsByTxid.get(txid);
    if (!ids) missing.affiliate.push(txid);
    else if (ids.size > 1) twice.webhookId.push(txid);
    else webhookIds++;
    const at = firstReceivedAt.get(txid);
    if (at !== undefined && (lastFirstReceivedAt === undefined || at > lastFirstReceivedAt))
      lastFirstReceivedAt = at;
  }
  const convertedUnacknowledged = [...conversionsByTxid.keys()].filter((t) => !ackedTxids.has(t));

  return {
    counts: { acknowledged: ackedTxids.size, converted, booked, delivered, webhookIds },
    resends: requests - allWebhookIds.size,
    withoutSub1,
    lastFirstReceivedAt,
    problems: [
      ...problem("acknowledged but no conversion", missing.conversion),
      ...problem("converted but no ledger entry", missing.ledger),
      ...problem("booked but not delivered", missing.delivery),
      ...problem("never received by the affiliate", missing.affiliate),
      ...problem("more than one conversion", twice.conversion),
      ...problem("more than one ledger entry", twice.ledger),
      ...problem("more than one delivery", twice.delivery),
      ...problem("received under more than one webhook-id", twice.webhookId),
      ...problem("converted though never acknowledged", convertedUnacknowledged),
    ],
  };
}

export function describeAudit(audit: Audit): string {
  const c = audit.counts;
  return [
    `acknowledged ${c.acknowledged}, converted ${c.converted}, booked ${c.booked}, delivered ${c.delivered}, ` +
      `webhook-ids at the affiliate ${c.webhookIds}, resends (same webhook-id) ${audit.resends}, ` +
      `without their click's sub1 ${audit.withoutSub1}`,
    ...audit.problems.map((p) => `  - ${p}`),
  ].join("\n");
}

/**
 * Audit until every acknowledged postback went all the way through exactly once, or `timeoutMs`
 * passed; returns the last audit either way (the caller asserts on it, so a failure shows counts).
 */
export async function untilExactlyOnce(
  input: Parameters<typeof auditExactlyOnce>[0],
  timeoutMs: number,
): Promise<Audit> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const audit = await auditExactlyOnce(input);
    if (audit.problems.length === 0 || Date.now() >= deadline) return audit;
    await Bun.sleep(1_000);
  }
}

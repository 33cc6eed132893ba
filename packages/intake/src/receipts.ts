import { captureTraceHeaders, streamOf, subjects } from "@roundtrip/bus";
import type { PostbackReceived } from "@roundtrip/contracts";
import type { Sql, Tx } from "@roundtrip/db";
import type { LogRow } from "./request-log.ts";

/** One accepted postback, ready to be written: receipt, log row and outbox event. */
export type ReceiptRow = {
  advertiser_id: string;
  brand_id: string;
  dedup_key: string;
  source: string;
  click_id: string;
  txid: string | null;
  ref_txid: string | null;
  event: string;
  status: string | null;
  amount: string | null;
  payout: string | null;
  currency: string | null;
  occurred_at: string | null;
  received_at: string;
  /** The signature's MAC (replay key) and until when it matters; null when not signed. */
  sig: string | null;
  sig_expires: string | null;
  log: LogRow;
};

export type Written = { receiptId: string; duplicate: boolean } | "replayed";

/**
 * Writes accepted postbacks. Requests that arrive while a write is in flight share the next
 * one (group commit): one statement per batch inserts the signatures (replay keys), the
 * receipts — a dedup key seen before, in the table or earlier in the batch, is a duplicate —
 * one outbox event per new receipt, and one request-log row per request; it commits as a whole
 * and every caller learns its own outcome after that commit. A batch that fails is retried row by
 * row, so one bad row fails alone.
 */
export class ReceiptWriter {
  private queue: { row: ReceiptRow; resolve: (w: Written) => void; reject: (err: unknown) => void }[] = [];
  private inflight = 0;

  constructor(
    private readonly sql: Sql,
    private readonly options: { maxBatch?: number; maxConcurrent?: number } = {},
  ) {}

  write(row: ReceiptRow): Promise<Written> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (this.inflight < (this.options.maxConcurrent ?? 1)) void this.flush();
    });
  }

  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.inflight > 0) await Bun.sleep(5);
  }

  private async flush(): Promise<void> {
    this.inflight++;
    // Let the rest of this tick's requests join the batch.
    await Promise.resolve();
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch ?? 200);
        try {
          const out = await writeReceipts(
            this.sql,
            batch.map((b) => b.row),
          );
          for (const [i, b] of batch.entries()) b.resolve(out[i] as Written);
        } catch (err) {
          if (batch.length === 1) {
            batch[0]?.reject(err);
            continue;
          }
          for (const b of batch) {
            await writeReceipts(this.sql, [b.row]).then(
              (out) => b.resolve(out[0] as Written),
              (e) => b.reject(e),
            );
          }
        }
      }
    } finally {
      this.inflight--;
    }
  }
}

/**
 * The statement (also used alone, inside the no-txid path's transaction). Rows arrive as one
 * JSON document; the result is in input order. Two requests in one batch with the same
 * signature: the second is a replay, decided here before the statement (the table's unique key
 * decides across batches and replicas).
 */
export async function writeReceipts(sql: Sql | Tx, rows: ReceiptRow[]): Promise<Written[]> {
  const seen = new Set<string>();
  const out: (Written | undefined)[] = rows.map((r) => {
    if (r.sig === null) return undefined;
    const key = `${r.advertiser_id}:${r.sig}`;
    if (seen.has(key)) return "replayed";
    seen.add(key);
    return undefined;
  });
  const input = rows.flatMap((r, i) => (out[i] === "replayed" ? [] : [toInput(r, i)]));
  const result = await sql<{ i: number; id: string; accepted: boolean }[]>`
    with input as (
      select * from jsonb_to_recordset(${JSON.stringify(input)}::text::jsonb) as r(
        i int, advertiser_id bigint, brand_id bigint, dedup_key text, source text, click_id text, txid text,
        ref_txid text, event text, status text, amount numeric, payout numeric, currency char(3),
        occurred_at timestamptz, received_at timestamptz, sig text, sig_expires timestamptz, subject text, stream text, msg_id text,
        payload jsonb, headers jsonb, log_source text, log_method text, log_params jsonb, log_ip text,
        import_id bigint, import_row int)
    ), sig as (
      insert into postback_signatures (advertiser_id, signature, expires_at)
      select advertiser_id, sig, sig_expires from input where sig is not null
      on conflict do nothing
      returning advertiser_id, signature
    ), admitted as (
      select * from input
      where sig is null or exists (select 1 from sig where sig.advertiser_id = input.advertiser_id and sig.signature = input.sig)
    ), firsts as (
      select distinct on (advertiser_id, dedup_key) *, count(*) over (partition by advertiser_id, dedup_key) - 1 as extra
      from admitted
      order by advertiser_id, dedup_key, i
    ), receipt as (
      insert into postback_receipts
        (advertiser_id, brand_id, dedup_key, source, click_id, txid, ref_txid, event, status, amount, payout, currency,
         occurred_at, received_at, duplicates)
      select advertiser_id, brand_id, dedup_key, source, click_id, txid, ref_txid, event, status, amount, payout, currency,
             occurred_at, received_at, extra
      from firsts
      on conflict (advertiser_id, dedup_key) do update set duplicates = postback_receipts.duplicates + 1 + excluded.duplicates
      returning id, advertiser_id, dedup_key, (xmax = 0) as inserted
    ), outbox as (
      insert into bus_outbox (subject, stream, msg_id, payload, headers)
      select f.subject, f.stream, f.msg_id, jsonb_set(f.payload, '{receipt_id}', to_jsonb(r.id::text)), f.headers
      from receipt r join firsts f using (advertiser_id, dedup_key)
      where r.inserted
      returning id
    ), outcome as (
      select a.i, r.id, (r.inserted and a.i = f.i) as accepted
      from admitted a join receipt r using (advertiser_id, dedup_key) join firsts f using (advertiser_id, dedup_key)
    ), logged as (
      insert into postback_log
        (advertiser_id, brand_id, source, method, params, ip, outcome, reason, http_status, receipt_id, import_id, import_row)
      select a.advertiser_id, a.brand_id, a.log_source, a.log_method, a.log_params, a.log_ip,
             case when o.accepted then 'accepted' else 'duplicate' end, null, 200, o.id, a.import_id, a.import_row
      from admitted a join outcome o using (i)
      returning 1
    )
    select o.i, o.id, o.accepted, (select count(*) from outbox) as queued, (select count(*) from logged) as logged
    from outcome o`;
  for (const r of result) out[r.i] = { receiptId: r.id, duplicate: !r.accepted };
  // Not in the result: its signature was already used (by another batch or replica).
  return out.map((o) => o ?? "replayed");
}

function toInput(r: ReceiptRow, i: number) {
  const event: PostbackReceived = {
    receipt_id: "0", // set by the statement
    advertiser_id: r.advertiser_id,
    brand_id: r.brand_id,
    source: r.source as PostbackReceived["source"],
    click_id: r.click_id,
    txid: r.txid,
    ref_txid: r.ref_txid,
    event: r.event,
    status: r.status as PostbackReceived["status"],
    amount: r.amount,
    payout: r.payout,
    currency: r.currency,
    occurred_at: r.occurred_at,
    received_at: r.received_at,
  };
  const { log, ...receipt } = r;
  const subject = subjects.postbackReceived(r.advertiser_id);
  return {
    ...receipt,
    i,
    subject,
    stream: streamOf(subject),
    msg_id: `pb:${r.advertiser_id}:${r.dedup_key}`,
    payload: event,
    headers: captureTraceHeaders(),
    log_source: log.source,
    log_method: log.method,
    log_params: log.params,
    log_ip: log.ip,
    import_id: log.import_id,
    import_row: log.import_row,
  };
}

import { enqueue, OUTBOX_CHANNEL, subjects } from "@roundtrip/bus";
import { type PartnerEvent, roundToCurrency } from "@roundtrip/contracts";
import type { Sql, Tx } from "@roundtrip/db";
import type { CreatedStatement } from "@roundtrip/ledger";

/**
 * Tells the affiliate, through the outbox (in the transaction that made the change) and the
 * signed delivery path: a payout line paid or failed, a statement ready. The event id is the
 * business identity, so a re-publish or replay plans one delivery per template, once.
 */
async function announce(tx: Tx, e: PartnerEvent): Promise<void> {
  await enqueue(tx, { subject: subjects.partnerEvent(e.type), payload: e, msgId: `partner:${e.id}` });
}

export async function announceLineOutcome(tx: Tx, lineId: string, status: "paid" | "failed"): Promise<void> {
  const [l] = await tx<
    {
      affiliate_id: string;
      run_id: string;
      currency: string;
      amount: string;
      method: string;
      provider_reference: string | null;
      failure_reason: string | null;
      settled_at: Date;
    }[]
  >`
    select affiliate_id::text, run_id::text, currency::text, amount::text, method, provider_reference, failure_reason, settled_at
    from payout_lines where id = ${lineId}`;
  if (!l) return;
  await announce(tx, {
    id: `payout.${status}:${lineId}`,
    type: `payout.${status}`,
    affiliate_id: l.affiliate_id,
    occurred_at: l.settled_at.toISOString(),
    data: {
      payout_line_id: lineId,
      run_id: l.run_id,
      amount: roundToCurrency(l.amount, l.currency),
      currency: l.currency,
      method: l.method,
      provider_reference: l.provider_reference,
      failure_reason: l.failure_reason,
    },
  });
}

export async function announceStatement(tx: Tx, s: CreatedStatement): Promise<void> {
  await announce(tx, {
    id: `statement.ready:${s.id}`,
    type: "statement.ready",
    affiliate_id: s.affiliate_id,
    occurred_at: new Date().toISOString(),
    data: {
      statement_id: s.id,
      period_start: s.period_start.toISOString(),
      period_end: s.period_end.toISOString(),
      url: `/v1/statements/${s.id}/pdf`,
    },
  });
}

/**
 * After the commit that enqueued partner events: wakes the PARTNERS relay of every admin replica
 * (LISTEN on the outbox channel), so the events leave now instead of at the next poll. Payout
 * runs and result imports are rare, so the NOTIFY's commit lock costs nothing here.
 */
export async function wakeRelays(sql: Sql): Promise<void> {
  await sql`select pg_notify(${OUTBOX_CHANNEL}, 'partners')`;
}

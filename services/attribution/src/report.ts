import type { ConversionStatus, PostbackReceived } from "@roundtrip/contracts";

/**
 * What one postback claims about its conversion, once the source's trust is applied. A browser
 * pixel is only a claim that something happened: unless the operator lets this advertiser's
 * pixels set money (`advertisers.pixel_sets_money`), it reports `pending` with no amount, so only
 * the advertiser's server (or a refund) moves money. A pixel never carries a payout.
 */
export type Report = {
  source: PostbackReceived["source"];
  status: ConversionStatus;
  amount: string | null;
  payout: string | null;
  currency: string;
  /** Event time, then receipt: the tie-breaks between two reports of the same figure. */
  at: Date;
  receiptId: string;
};

export function reportOf(
  p: PostbackReceived,
  defaults: { status: ConversionStatus; currency: string; pixelSetsMoney: boolean },
  at: Date,
): Report {
  const pixel = p.source === "pixel";
  const trusted = !pixel || defaults.pixelSetsMoney;
  return {
    source: p.source,
    status: pixel ? (trusted ? defaults.status : "pending") : (p.status ?? defaults.status),
    amount: trusted ? p.amount : null,
    payout: pixel ? null : p.payout,
    currency: p.currency ?? defaults.currency,
    at,
    receiptId: p.receipt_id,
  };
}

/** Where the figure a conversion holds came from (null: no report carried one yet). */
export type FigureOrigin = { source: string | null; at: Date | null; receiptId: string | null };

/**
 * Whether a report's figure replaces the one held: S2S and import beat pixel, then the later
 * event time, then the later receipt. A total order over reports, so the figure a conversion
 * ends with is the greatest one reported, whatever order they were handled in.
 */
export function outranks(report: Pick<Report, "source" | "at" | "receiptId">, held: FigureOrigin): boolean {
  if (held.source === null || held.at === null || held.receiptId === null) return true;
  const rank = (source: string) => (source === "pixel" ? 0 : 1);
  if (rank(report.source) !== rank(held.source)) return rank(report.source) > rank(held.source);
  if (report.at.getTime() !== held.at.getTime()) return report.at.getTime() > held.at.getTime();
  return BigInt(report.receiptId) > BigInt(held.receiptId);
}

import { DEFAULT_RULES, type Reason, type RuleAction, type RuleSetting } from "@roundtrip/contracts";
import type { Sql, Tx } from "@roundtrip/db";

type Row = {
  offer_id: string | null;
  reason: Reason;
  event: string | null;
  threshold: number | null;
  action: RuleAction;
  enabled: boolean;
};

/**
 * The rules that apply to a set of offers, read once (per click batch or conversion). The most
 * specific row wins: offer + event, offer, program + event, program, then the built-in default.
 */
export class RuleBook {
  private readonly rows = new Map<string, RuleSetting>();

  constructor(rows: Row[]) {
    for (const r of rows)
      this.rows.set(key(r.offer_id, r.reason, r.event), {
        threshold: r.threshold,
        action: r.action,
        enabled: r.enabled,
      });
  }

  setting(offerId: string, reason: Reason, event: string | null = null): RuleSetting {
    const tries: [string | null, string | null][] = [
      [offerId, event],
      [offerId, null],
      [null, event],
      [null, null],
    ];
    for (const [o, e] of tries) {
      const found = this.rows.get(key(o, reason, e));
      if (found) return found;
    }
    return DEFAULT_RULES[reason];
  }

  /** The rule's setting when it is on, else null. */
  active(offerId: string, reason: Reason, event: string | null = null): RuleSetting | null {
    const s = this.setting(offerId, reason, event);
    return s.enabled ? s : null;
  }
}

const key = (offerId: string | null, reason: string, event: string | null) =>
  `${offerId ?? "*"}|${reason}|${event ?? "*"}`;

export async function loadRuleBook(tx: Sql | Tx, offerIds: readonly string[]): Promise<RuleBook> {
  const rows = await tx<Row[]>`
    select offer_id::text, reason, event, threshold, action, enabled from traffic_rules
    where offer_id is null ${offerIds.length ? tx`or offer_id in ${tx(offerIds as string[])}` : tx``}`;
  return new RuleBook(rows);
}

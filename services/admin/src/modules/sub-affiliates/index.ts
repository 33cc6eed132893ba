import { roundToCurrency } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia, t } from "elysia";
import { authentication } from "../../auth.ts";
import { view } from "../../visibility.ts";
import { affiliateFilter } from "../payment-details/service.ts";
import { Id, parseTime, Timestamp } from "../common.ts";

const EarningsRow = t.Object({
  affiliate_id: t.String({ description: "the parent (or grandparent) earning the share" }),
  sub_affiliate_id: t.String({ description: "the affiliate whose commission was shared" }),
  sub_affiliate_name: t.String(),
  tier: t.Integer({ description: "2: a child's commission; 3: a grandchild's" }),
  currency: t.String(),
  conversions: t.Integer(),
  earned: t.String({ description: "sub_commission entries" }),
  reversed: t.String({ description: "sub_reversal entries (negative)" }),
  net: t.String(),
});

/**
 * What parents earn from their sub-affiliates, from the ledger's tier-2 and tier-3 entries: per
 * parent, sub-affiliate, tier and currency. An affiliate key sees what it earned from its own.
 */
export function subAffiliates(sql: Sql) {
  return new Elysia({ prefix: "/v1/sub-affiliates", tags: ["payouts"] }).use(authentication(sql)).get(
    "/earnings",
    async ({ query, principal }) => {
      const show = view("sub_affiliate_earnings", principal);
      if (principal.affiliateId && query.affiliate_id && query.affiliate_id !== principal.affiliateId)
        throw new HttpError(404, "not_found", "not found");
      const affiliate = affiliateFilter(principal, query.affiliate_id);
      const from = parseTime(query.from, "from");
      const to = parseTime(query.to, "to");
      const rows = await sql<(typeof EarningsRow.static)[]>`
          select e.affiliate_id::text, s.affiliate_id::text as sub_affiliate_id, a.name as sub_affiliate_name, e.tier,
                 e.affiliate_currency::text as currency, count(distinct e.conversion_id)::int as conversions,
                 coalesce(sum(e.affiliate_payout) filter (where e.type = 'sub_commission'), 0)::text as earned,
                 coalesce(sum(e.affiliate_payout) filter (where e.type = 'sub_reversal'), 0)::text as reversed,
                 sum(e.affiliate_payout)::text as net
          from ledger_entries e
          join ledger_entries s on s.id = e.source_entry_id
          join affiliates a on a.id = s.affiliate_id
          where e.tier > 1
            ${affiliate ? sql`and e.affiliate_id = ${affiliate}` : sql``}
            ${from ? sql`and e.created_at >= ${from}` : sql``}
            ${to ? sql`and e.created_at < ${to}` : sql``}
          group by 1, 2, 3, 4, 5
          order by 1, 4, 2, 5
          limit 10000`;
      const money = (r: typeof EarningsRow.static) => ({
        ...r,
        earned: roundToCurrency(r.earned, r.currency),
        reversed: roundToCurrency(r.reversed, r.currency),
        net: roundToCurrency(r.net, r.currency),
      });
      return { data: rows.map(money).map(show) };
    },
    {
      query: t.Object({
        affiliate_id: t.Optional(Id),
        from: t.Optional(Timestamp),
        to: t.Optional(Timestamp),
      }),
      response: { 200: t.Object({ data: t.Array(EarningsRow) }) },
      detail: {
        summary:
          "Sub-affiliate earnings: what each parent earned from each sub-affiliate, by tier and currency",
        description:
          "From the ledger's sub_commission and sub_reversal entries. An affiliate key sees its own earnings only.",
      },
    },
  );
}

import type { Sql } from "@roundtrip/db";
import { Elysia } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { audit } from "../../changes.ts";
import { view } from "../../visibility.ts";
import { AdjustmentCreate, BalancesQuery } from "./model.ts";
import { adjust, balances } from "./service.ts";
import { documented } from "../../openapi/documented.ts";
import { Row } from "../../openapi/rows.ts";
import { ListOf, BalanceRow } from "../../openapi/schemas.ts";

/** Affiliate balances, derived from the immutable ledger, and manual adjustments to them. */
export function affiliateBalances(sql: Sql) {
  return new Elysia({ prefix: "/v1/balances", tags: ["payouts"] })
    .use(authentication(sql))
    .get(
      "/",
      async ({ query, principal }) => {
        const show = view("balances", principal);
        const rows = await balances(sql, {
          affiliateId: principal.affiliateId ?? query.affiliate_id,
          currency: query.currency,
          asOf: query.as_of ? new Date(query.as_of) : new Date(),
        });
        return { data: rows.map(show) };
      },
      {
        query: BalancesQuery,
        ...documented({
          summary:
            "Balances per affiliate and currency: available, pending (held), total; an affiliate key sees its own",
          description:
            "Balances per affiliate and currency at a time (default now): available, pending (held) and total. An affiliate key sees its own.",
          response: ListOf(BalanceRow),
        }),
      },
    )
    .post(
      "/adjustments",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const who = actor(principal);
        const result = await sql.begin(async (tx) => {
          const r = await adjust(tx, body, who);
          if (r.created)
            await audit(tx, {
              actor: who,
              action: "create",
              resource: "adjustments",
              id: r.entry?.id,
              after: r.entry,
            });
          return r;
        });
        set.status = result.created ? 201 : 200;
        return result.entry;
      },
      {
        body: AdjustmentCreate,
        ...documented({
          summary: "Book a manual adjustment (a new ledger entry; signed amount)",
          description:
            "Books a manual adjustment as a new ledger entry (a signed amount, with a reason); idempotent by its `idempotency_key` field.",
          response: Row("ledger_entries"),
          status: 201,
        }),
      },
    );
}

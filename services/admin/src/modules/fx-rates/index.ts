import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { audit } from "../../changes.ts";
import { view } from "../../visibility.ts";
import { FxRatesCreate, FxRatesQuery } from "./model.ts";
import { listRates, parseRatesCsv, upsertRates } from "./service.ts";
import { documented } from "../../openapi/documented.ts";
import { Row } from "../../openapi/rows.ts";
import { Counted, ListOf } from "../../openapi/schemas.ts";

/**
 * FX rates as data with an effective time. Commission converts each conversion at the rate in
 * force at its event time (direct, inverse, or across one common currency).
 */
export function fxRates(sql: Sql) {
  return new Elysia({ prefix: "/v1/fx-rates", tags: ["fx-rates"] })
    .use(authentication(sql))
    .get(
      "/",
      async ({ query, principal }) => {
        const show = view("fx_rates", principal);
        return { data: (await listRates(sql, query)).map(show) };
      },
      {
        query: FxRatesQuery,
        ...documented({
          summary: "List FX rates, or (with at) the rate of each pair in force at a time",
          description:
            "FX rates with their effective time; with `at`, the rate of each pair in force at that time.",
          response: ListOf(Row("fx_rates")),
        }),
      },
    )
    .post(
      "/",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const rates = "rates" in body ? body.rates : [body];
        const stored = await sql.begin(async (tx) => {
          const rows = await upsertRates(tx, rates, "admin");
          await audit(tx, {
            actor: actor(principal),
            action: "upsert",
            resource: "fx-rates",
            id: null,
            after: { count: rows.length },
          });
          return rows;
        });
        set.status = 201;
        return { data: stored };
      },
      {
        body: FxRatesCreate,
        ...documented({
          summary: "Add FX rates (one, or {rates:[…]}); the same pair and time replaces the rate",
          description:
            "Stores one rate or a batch; a rate for the same pair and effective time replaces the earlier one.",
          response: ListOf(Row("fx_rates")),
          status: 201,
        }),
      },
    )
    .post(
      "/import",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const rates = parseRatesCsv(body);
        const stored = await sql.begin(async (tx) => {
          const rows = await upsertRates(tx, rates, "csv");
          await audit(tx, {
            actor: actor(principal),
            action: "import",
            resource: "fx-rates",
            id: null,
            after: { count: rows.length },
          });
          return rows;
        });
        set.status = 201;
        return { imported: stored.length };
      },
      {
        parse: "text",
        body: t.String({ maxLength: 5_000_000, description: "CSV: base,quote,rate,effective_at" }),
        ...documented({
          summary: "Load FX rates from a CSV (header base,quote,rate,effective_at); all or nothing",
          description: "Loads rates from a CSV (header base,quote,rate,effective_at): every row or none.",
          response: Counted("imported"),
          status: 201,
        }),
      },
    );
}

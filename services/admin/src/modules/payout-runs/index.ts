import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { actor, assertCanWrite, authentication } from "../../auth.ts";
import { audit } from "../../changes.ts";
import { view } from "../../visibility.ts";
import { affiliateFilter } from "../payment-details/service.ts";
import {
  ApproveInput,
  ExportQuery,
  LinesQuery,
  LineView,
  PreviewInput,
  PreviewView,
  ResultsView,
  RunParams,
  RunView,
} from "./model.ts";
import { wakeRelays } from "./partner-events.ts";
import { approve, cutoffOf, exportFile, importResults, lines, preview, run, runs } from "./service.ts";

/**
 * Payout runs: preview who is paid how much (and why not), approve into an immutable batch whose
 * `payout` entries move the amounts from earned to paid, export the mass-payment files, and
 * import the provider's result file (a failed line's amount returns to the balance).
 */
export function payoutRuns(sql: Sql) {
  return new Elysia({ tags: ["payouts"] })
    .use(authentication(sql))
    .post(
      "/v1/payout-runs/preview",
      async ({ body, principal }) => {
        view("payout_runs", principal);
        return preview(sql, cutoffOf(body.period_end));
      },
      {
        body: PreviewInput,
        response: { 200: PreviewView },
        detail: {
          summary: "Preview a payout run: who is paid how much, and why not (nothing is written)",
          description:
            "Per affiliate and currency: entries payable by period_end (approved, out of hold) net of what was paid, after closing the period (negative carryover). Reasons: not_in_cycle, on_hold, nothing_due, below_minimum, missing_payment_details.",
        },
      },
    )
    .post(
      "/v1/payout-runs",
      async ({ body, principal, set }) => {
        assertCanWrite(principal);
        const who = actor(principal);
        const approved = await sql.begin(async (tx) => {
          const r = await approve(tx, cutoffOf(body.period_end), who, body.idempotency_key ?? null);
          if (r.created)
            await audit(tx, { actor: who, action: "approve", resource: "payout_runs", id: r.run_id });
          return r;
        });
        if (approved.statements.length > 0) await wakeRelays(sql); // statement.ready is committed
        set.status = approved.created ? 201 : 200;
        return run(sql, approved.run_id);
      },
      {
        body: ApproveInput,
        response: { 200: RunView, 201: RunView },
        detail: {
          summary:
            "Approve a payout run: an immutable batch of lines, each moving its amount from earned to paid",
          description:
            "Recomputes the preview at approval (one run at a time) and books a payout entry per line; periods ending at period_end are closed (carryover) and get a statement. The same idempotency_key answers the same run.",
        },
      },
    )
    .get(
      "/v1/payout-runs",
      async ({ principal }) => {
        const show = view("payout_runs", principal);
        return { data: (await runs(sql)).map(show) };
      },
      {
        response: { 200: t.Object({ data: t.Array(t.Omit(RunView, ["lines"])) }) },
        detail: {
          summary: "List payout runs, newest first, with their totals per currency",
          description:
            "Every approved payout run, newest first, with its totals per currency (without its lines).",
        },
      },
    )
    .get(
      "/v1/payout-runs/:id",
      async ({ params, principal }) => {
        const show = view("payout_runs", principal);
        return show(await run(sql, params.id));
      },
      {
        params: RunParams,
        response: { 200: RunView },
        detail: {
          summary: "A payout run and its lines (references masked)",
          description:
            "One payout run with every line: affiliate, amount, currency, status and the masked account reference.",
        },
      },
    )
    .get(
      "/v1/payout-runs/:id/export",
      async ({ params, query, principal }) => {
        assertCanWrite(principal);
        const file = await exportFile(sql, params.id, query.format);
        await sql.begin((tx) =>
          audit(tx, {
            actor: actor(principal),
            action: "export",
            resource: "payout_runs",
            id: params.id,
            after: { format: query.format, lines: file.lines },
          }),
        );
        return new Response(file.csv, {
          headers: {
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": `attachment; filename="payout-run-${params.id}-${query.format}.csv"`,
          },
        });
      },
      {
        params: RunParams,
        query: ExportQuery,
        detail: {
          summary:
            "Export a run's pending lines as a mass-payment CSV (PayPal Payouts, bank/SEPA, Tipalti-style)",
          description:
            "Admin and manager keys; audited. The one place account references appear whole. Each row carries the line's reference (RT-<line id>), which the result import matches.",
          responses: {
            200: { description: "the CSV file", content: { "text/csv": { schema: { type: "string" } } } },
          },
        },
      },
    )
    .post(
      "/v1/payout-runs/:id/results",
      async ({ params, body, principal }) => {
        assertCanWrite(principal);
        await run(sql, params.id);
        const who = actor(principal);
        const r = await sql.begin(async (tx) => {
          const imported = await importResults(tx, params.id, body, who);
          await audit(tx, {
            actor: who,
            action: "import_results",
            resource: "payout_runs",
            id: params.id,
            after: imported.counts,
          });
          return imported;
        });
        if (r.changed.length > 0) await wakeRelays(sql); // payout.paid / payout.failed are committed
        return r.counts;
      },
      {
        params: RunParams,
        parse: "text",
        body: t.String({
          maxLength: 5_000_000,
          description: "CSV: reference (or line_id), status[, provider_reference, failure_reason]",
        }),
        response: { 200: ResultsView },
        detail: {
          summary:
            "Import the payment provider's result file: each line marked paid or failed (all or nothing)",
          description:
            "A failed line's amount returns to the affiliate's balance (a payout_return entry). The same result twice changes nothing; a different result for a settled line is refused (409).",
        },
      },
    )
    .get(
      "/v1/payout-lines",
      async ({ query, principal }) => {
        const show = view("payout_lines", principal);
        const rows = await lines(sql, {
          affiliateId: affiliateFilter(principal, query.affiliate_id),
          runId: query.run_id,
          status: query.status,
        });
        return { data: rows.map(show) };
      },
      {
        query: LinesQuery,
        response: { 200: t.Object({ data: t.Array(LineView) }) },
        detail: {
          summary: "Payout lines (payouts made); an affiliate key sees its own",
          description:
            "Payout lines across runs; filter by affiliate, run or status. An affiliate key sees its own lines only.",
        },
      },
    );
}

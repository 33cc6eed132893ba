import type { Sql } from "@roundtrip/db";
import { Elysia, t } from "elysia";
import { authentication, type Principal } from "../../auth.ts";
import { view } from "../../visibility.ts";
import { affiliateFilter } from "../payment-details/service.ts";
import { statementContent } from "./content.ts";
import { statementHtml } from "./html.ts";
import { StatementParams, StatementSummary, StatementsQuery, StatementView } from "./model.ts";
import { statementPdf } from "./pdf.ts";

/**
 * Statements per affiliate per cycle (made when a run closes the cycle): JSON, an HTML page and a
 * PDF of the same content. An affiliate key reads its own; another's answers 404.
 */
export function statements(sql: Sql) {
  const read = (id: string, principal: Principal) => {
    const show = view("statements", principal);
    return statementContent(sql, id, principal.affiliateId).then(show);
  };
  const file = (name: string, type: string) => ({
    "content-type": type,
    "content-disposition": `inline; filename="${name}"`,
  });
  return new Elysia({ prefix: "/v1/statements", tags: ["payouts"] })
    .use(authentication(sql))
    .get(
      "/",
      async ({ query, principal }) => {
        const show = view("statements", principal);
        const affiliate = affiliateFilter(principal, query.affiliate_id);
        const rows = await sql<(typeof StatementSummary.static)[]>`
          select id::text, affiliate_id::text, period_start, period_end, run_id::text, created_at from statements
          ${affiliate ? sql`where affiliate_id = ${affiliate}` : sql``}
          order by id desc limit 1000`;
        return { data: rows.map(show) };
      },
      {
        query: StatementsQuery,
        response: { 200: t.Object({ data: t.Array(StatementSummary) }) },
        detail: {
          summary: "List statements (one per affiliate per closed cycle); an affiliate key sees its own",
          description:
            "Statements, newest first (up to 1000), one per affiliate per closed payout cycle; filter by affiliate or period. An affiliate key sees its own.",
        },
      },
    )
    .get("/:id", ({ params, principal }) => read(params.id, principal), {
      params: StatementParams,
      response: { 200: StatementView },
      detail: {
        summary:
          "A statement: line items by offer and event, adjustments, sub-affiliate earnings, carryover, totals per currency, VAT, payouts",
        description:
          "One statement with everything it accounts for; the HTML and PDF forms are at /html and /pdf.",
      },
    })
    .get(
      "/:id/html",
      async ({ params, principal }) =>
        new Response(statementHtml(await read(params.id, principal)), {
          headers: file(`statement-${params.id}.html`, "text/html; charset=utf-8"),
        }),
      {
        params: StatementParams,
        detail: {
          summary: "A statement as an HTML page",
          description: "The statement rendered as a printable HTML page (an attachment).",
          responses: {
            200: { description: "the page", content: { "text/html": { schema: { type: "string" } } } },
          },
        },
      },
    )
    .get(
      "/:id/pdf",
      async ({ params, principal }) =>
        new Response(Buffer.from(await statementPdf(await read(params.id, principal))), {
          headers: file(`statement-${params.id}.pdf`, "application/pdf"),
        }),
      {
        params: StatementParams,
        detail: {
          summary: "A statement as a PDF",
          description: "The statement as a PDF document (an attachment).",
          responses: {
            200: {
              description: "the PDF",
              content: { "application/pdf": { schema: { type: "string", format: "binary" } } },
            },
          },
        },
      },
    );
}

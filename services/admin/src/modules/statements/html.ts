import { localDate } from "@roundtrip/ledger";
import type { Statement } from "./content.ts";

const text = (v: unknown) => Bun.escapeHTML(String(v ?? ""));
// The period's boundaries are local midnights in the affiliate's zone: shown as its local dates.
const day = (d: Date, zone: string) => localDate(d, zone);

/** The statement as a self-contained HTML page (every value escaped: offer names are operator input). */
export function statementHtml(s: Statement): string {
  const sections = s.currencies
    .map(
      (c) => `
  <section>
    <h2>${text(c.currency)}</h2>
    <table>
      <thead><tr><th>Offer</th><th>Event</th><th>Type</th><th>Count</th><th>Amount</th></tr></thead>
      <tbody>${c.lines
        .map(
          (l) =>
            `<tr><td>${text(l.offer)}</td><td>${text(l.event)}</td><td>${text(l.type)}</td><td>${l.count}</td><td>${text(l.amount)}</td></tr>`,
        )
        .join("")}</tbody>
    </table>
    ${c.adjustments.length ? `<h3>Adjustments</h3><ul>${c.adjustments.map((a) => `<li>${text(a.reason)}: ${text(a.amount)}</li>`).join("")}</ul>` : ""}
    <p>Sub-affiliate earnings: ${text(c.sub_affiliate)}</p>
    ${c.carryover.length ? `<h3>Carryover</h3><ul>${c.carryover.map((a) => `<li>${text(a.reason)}: ${text(a.amount)}</li>`).join("")}</ul>` : ""}
    <p><strong>Total ${text(c.currency)}: ${text(c.earned)}</strong></p>
    ${c.vat ? `<p>VAT ${text(c.vat.rate)} %: ${text(c.vat.amount)} — gross ${text(c.vat.gross)}</p>` : ""}
    ${c.payouts.map((p) => `<p>Payout ${text(p.line_id)} (${text(p.method)}): ${text(p.amount)} — ${text(p.status)}</p>`).join("")}
  </section>`,
    )
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Statement ${text(s.id)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}</style>
</head><body>
  <h1>Statement ${text(s.id)}</h1>
  <p>${text(s.affiliate_name)} (affiliate ${text(s.affiliate_id)}) — period ${day(s.period_start, s.time_zone)} to ${day(s.period_end, s.time_zone)}</p>
  ${s.payment ? `<p>Paid by ${text(s.payment.method)} to ${text(s.payment.account_reference_masked)}${s.payment.vat_number ? ` — VAT number ${text(s.payment.vat_number)}` : ""}</p>` : ""}
  ${sections}
</body></html>`;
}

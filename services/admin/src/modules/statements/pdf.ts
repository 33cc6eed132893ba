import { localDate } from "@roundtrip/ledger";
import { PDFDocument, type PDFFont, StandardFonts } from "pdf-lib";
import type { Statement } from "./content.ts";

// The period's boundaries are local midnights in the affiliate's zone: shown as its local dates.
const day = (d: Date, zone: string) => localDate(d, zone);
/** The standard fonts encode WinAnsi only: anything else is replaced rather than failing the PDF. */
const winAnsi = (text: string) => text.replace(/[^\x20-\x7e\xa0-\xff]/g, "?");

/** The statement as a PDF (pdf-lib, a standard font): the same content as the HTML page. */
export async function statementPdf(s: Statement): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  doc.setTitle(`Statement ${s.id}`);
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const bold = await doc.embedFont(StandardFonts.HelveticaBold);
  let page = doc.addPage();
  let y = page.getHeight() - 50;
  const write = (text: string, options: { size?: number; font?: PDFFont; indent?: number } = {}) => {
    const size = options.size ?? 10;
    if (y < 50) {
      page = doc.addPage();
      y = page.getHeight() - 50;
    }
    page.drawText(winAnsi(text), { x: 50 + (options.indent ?? 0), y, size, font: options.font ?? font });
    y -= size + 6;
  };
  write(`Statement ${s.id}`, { size: 16, font: bold });
  write(`${s.affiliate_name} (affiliate ${s.affiliate_id})`);
  write(`Period ${day(s.period_start, s.time_zone)} to ${day(s.period_end, s.time_zone)}`);
  if (s.payment)
    write(
      `Paid by ${s.payment.method} to ${s.payment.account_reference_masked ?? ""}${s.payment.vat_number ? `, VAT number ${s.payment.vat_number}` : ""}`,
    );
  for (const c of s.currencies) {
    y -= 6;
    write(c.currency, { size: 13, font: bold });
    for (const l of c.lines)
      write(`${l.offer} / ${l.event} / ${l.type}: ${l.count} x, ${l.amount} ${c.currency}`, { indent: 10 });
    for (const a of c.adjustments)
      write(`Adjustment (${a.reason ?? ""}): ${a.amount} ${c.currency}`, { indent: 10 });
    write(`Sub-affiliate earnings: ${c.sub_affiliate} ${c.currency}`, { indent: 10 });
    for (const a of c.carryover) write(`Carryover ${a.reason}: ${a.amount} ${c.currency}`, { indent: 10 });
    write(`Total ${c.currency}: ${c.earned}`, { font: bold });
    if (c.vat)
      write(`VAT ${c.vat.rate} %: ${c.vat.amount} ${c.currency}, gross ${c.vat.gross} ${c.currency}`);
    for (const p of c.payouts)
      write(`Payout ${p.line_id} (${p.method}): ${p.amount} ${c.currency}, ${p.status}`);
  }
  return doc.save();
}

import { roundToCurrency } from "@roundtrip/contracts";
import { toCsv } from "../../csv.ts";

/** A payout line as the export files need it: the account reference whole (the one place it is). */
export type ExportLine = {
  id: string;
  affiliate_id: string;
  currency: string;
  amount: string;
  method: string;
  account_reference: string;
  account_holder: string | null;
  bic: string | null;
  period_end: Date;
};

export type ExportFormat = "paypal" | "sepa" | "tipalti";

/** The reference each provider echoes back in its result file: what the import matches lines by. */
export const lineReference = (id: string) => `RT-${id}`;

export const METHOD_OF: Record<ExportFormat, string> = {
  paypal: "paypal",
  sepa: "bank_transfer",
  tipalti: "tipalti",
};

const note = (l: ExportLine) => `Roundtrip payout to ${l.period_end.toISOString().slice(0, 10)}`;

/**
 * The mass-payment files. PayPal Payouts: recipient, amount, currency, reference, note, wallet.
 * Bank/SEPA: beneficiary, IBAN, BIC, amount, currency, end-to-end id, remittance information.
 * Tipalti-style: payee id, amount, currency, ref code, description.
 */
export function exportCsv(format: ExportFormat, lines: readonly ExportLine[]): string {
  const amount = (l: ExportLine) => roundToCurrency(l.amount, l.currency);
  if (format === "paypal")
    return toCsv(
      ["Recipient", "Amount", "Currency", "Reference ID", "Note to recipient", "Recipient wallet"],
      lines.map((l) => [l.account_reference, amount(l), l.currency, lineReference(l.id), note(l), "PayPal"]),
    );
  if (format === "sepa")
    return toCsv(
      ["beneficiary_name", "iban", "bic", "amount", "currency", "end_to_end_id", "remittance_information"],
      lines.map((l) => [
        l.account_holder ?? `Affiliate ${l.affiliate_id}`,
        l.account_reference.replaceAll(" ", ""),
        l.bic ?? "",
        amount(l),
        l.currency,
        lineReference(l.id),
        note(l),
      ]),
    );
  return toCsv(
    ["Payee ID", "Amount", "Currency", "Ref Code", "Payment Description"],
    lines.map((l) => [l.account_reference, amount(l), l.currency, lineReference(l.id), note(l)]),
  );
}

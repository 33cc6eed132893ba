import { t } from "elysia";
import { Strict } from "../common.ts";

export const PaymentMethod = t.Union(
  [t.Literal("paypal"), t.Literal("bank_transfer"), t.Literal("tipalti")],
  {
    description: "paypal: PayPal Payouts; bank_transfer: SEPA/bank credit transfer; tipalti: Tipalti payee",
  },
);

/** Write-only: the account reference is stored and never returned whole. */
export const PaymentDetailsInput = Strict({
  method: PaymentMethod,
  account_reference: t.String({
    minLength: 3,
    maxLength: 200,
    description: "PayPal e-mail, IBAN or Tipalti payee ID; write-only, shown masked",
  }),
  account_holder: t.Optional(
    t.String({ minLength: 1, maxLength: 200, description: "beneficiary name (bank)" }),
  ),
  bic: t.Optional(t.String({ pattern: "^[A-Z0-9]{8}([A-Z0-9]{3})?$", description: "BIC/SWIFT (bank)" })),
  vat_number: t.Optional(t.String({ minLength: 2, maxLength: 40, description: "shown on statements" })),
  vat_rate: t.Optional(
    t.String({
      pattern: "^\\d{1,2}(\\.\\d{1,2})?$",
      description: "VAT percent added on statements, e.g. 19",
    }),
  ),
});
export type PaymentDetailsInput = typeof PaymentDetailsInput.static;

export const PaymentDetailsView = t.Object({
  affiliate_id: t.String(),
  method: t.String(),
  account_reference_masked: t.Union([t.String(), t.Null()], { description: "last four characters only" }),
  account_holder: t.Union([t.String(), t.Null()]),
  bic: t.Union([t.String(), t.Null()]),
  vat_number: t.Union([t.String(), t.Null()]),
  vat_rate: t.Union([t.String(), t.Null()]),
  updated_at: t.Any(),
});
export type PaymentDetailsView = typeof PaymentDetailsView.static;

/**
 * What GET answers: the details, masked — or, for an affiliate that has none yet, the same shape
 * with every field null (`method: null`: not set). Having none is an affiliate's normal first
 * state (the payout run leaves it out until it has some), not a missing resource: only an
 * unknown affiliate is a 404.
 */
export const PaymentDetailsRead = t.Object({
  affiliate_id: t.String(),
  method: t.Union([t.String(), t.Null()], { description: "null: no payment details yet" }),
  account_reference_masked: t.Union([t.String(), t.Null()], { description: "last four characters only" }),
  account_holder: t.Union([t.String(), t.Null()]),
  bic: t.Union([t.String(), t.Null()]),
  vat_number: t.Union([t.String(), t.Null()]),
  vat_rate: t.Union([t.String(), t.Null()]),
  updated_at: t.Any(),
});
export type PaymentDetailsRead = typeof PaymentDetailsRead.static;

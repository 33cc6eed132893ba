import { t } from "elysia";
import { Currency, Id } from "../common.ts";

export const BalancesQuery = t.Object({
  affiliate_id: t.Optional(Id),
  currency: t.Optional(Currency),
  as_of: t.Optional(
    t.String({
      format: "date-time",
      description: "the balance as it stood (or will stand) then; default now",
    }),
  ),
});

export const AdjustmentCreate = t.Object({
  affiliate_id: Id,
  amount: t.String({
    pattern: "^-?\\d{1,14}(\\.\\d{1,6})?$",
    description: "signed; positive credits the affiliate",
  }),
  currency: Currency,
  reason: t.String({ minLength: 3, maxLength: 500 }),
  idempotency_key: t.Optional(
    t.String({ minLength: 8, maxLength: 100, description: "the same key twice books once" }),
  ),
});
export type AdjustmentCreate = typeof AdjustmentCreate.static;

import { t } from "elysia";
import { Currency } from "../common.ts";

export const Rate = t.String({
  pattern: "^\\d{1,12}(\\.\\d{1,12})?$",
  description: "1 base = rate quote; up to 12 decimals",
});

export const FxRateInput = t.Object({
  base: Currency,
  quote: Currency,
  rate: Rate,
  effective_at: t.String({
    format: "date-time",
    description: "in force from this time until a later rate of the pair",
  }),
});
export type FxRateInput = typeof FxRateInput.static;

export const FxRatesCreate = t.Union([
  FxRateInput,
  t.Object({ rates: t.Array(FxRateInput, { minItems: 1, maxItems: 10_000 }) }),
]);

export const FxRatesQuery = t.Object({
  base: t.Optional(Currency),
  quote: t.Optional(Currency),
  at: t.Optional(
    t.String({ format: "date-time", description: "only the rate of each pair in force at this time" }),
  ),
});

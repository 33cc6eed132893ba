import { t } from "elysia";
import { Decimal, EventCode, Id, Strict } from "../common.ts";
import { CurrencyCode } from "@roundtrip/contracts";

export const FireTestPostback = Strict({
  offer_id: Id,
  token: t.String({
    minLength: 1,
    maxLength: 200,
    description: "the advertiser's postback token (kept nowhere)",
  }),
  event: EventCode,
  amount: t.Optional(Decimal),
  currency: t.Optional(CurrencyCode),
  status: t.Optional(
    t.Union([t.Literal("pending"), t.Literal("approved"), t.Literal("rejected"), t.Literal("reversed")]),
  ),
  click_id: t.Optional(
    t.String({
      minLength: 1,
      maxLength: 64,
      description: "a real click's ID; absent: one is minted for the tool's test link",
    }),
  ),
});

export const StepsQuery = t.Object({
  advertiser_id: Id,
  txid: t.String({ minLength: 1, maxLength: 200 }),
  click_id: t.String({ minLength: 1, maxLength: 64 }),
});

const StepState = t.Union([
  t.Literal("passed"),
  t.Literal("failed"),
  t.Literal("waiting"),
  t.Literal("skipped"),
]);
export const Steps = t.Object({
  steps: t.Array(
    t.Object({
      step: t.Union([
        t.Literal("auth"),
        t.Literal("click_id"),
        t.Literal("dedup"),
        t.Literal("attribution"),
        t.Literal("booking"),
        t.Literal("delivery"),
      ]),
      title: t.String(),
      state: StepState,
      detail: t.String(),
    }),
  ),
  done: t.Boolean({ description: "no step is waiting any more" }),
  trace: t.Record(t.String(), t.Unknown(), {
    description: "the trace the steps were read from (GET /v1/trace)",
  }),
});

export const Fired = t.Object({
  advertiser_id: t.String(),
  offer_id: t.String(),
  click_id: t.String(),
  txid: t.String(),
  gateway: t.Object({
    status: t.Union([t.Integer(), t.Null()], {
      description: "null when the gateway did not answer (see error)",
    }),
    body: t.Unknown(),
    error: t.Union([t.String(), t.Null()]),
  }),
  watch: t.String({ description: "GET this for the steps (or …/stream for server-sent events)" }),
});

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { decisionSteps, type TraceLike } from "./steps.ts";

const TXID = "test-abc";
const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 12, 0, s)).toISOString();

/** A trace at some point of a postback's journey, from the choices a generator (or a test) makes. */
function trace(o: {
  request?: "none" | "accepted" | "duplicate" | "unauthorized" | "unknown_click" | "invalid_amount";
  click?: "none" | "valid" | "invalid";
  receipt?: "none" | "waiting" | "created" | "duplicate" | "rejected";
  booking?: "none" | "booked" | "blocked" | "test";
  delivery?: "none" | "pending" | "delivered" | "dead";
}): TraceLike {
  const request = o.request ?? "none";
  const outcome = request === "invalid_amount" ? "invalid" : request;
  const status = { accepted: 200, duplicate: 200, unauthorized: 401, unknown_click: 422, invalid: 400 }[
    outcome as "accepted"
  ];
  const reason = {
    unauthorized: "bad_token",
    unknown_click: "click_id forged",
    invalid: "amount: not a decimal",
  }[outcome as "unauthorized"];
  const receipt = o.receipt && o.receipt !== "none" ? o.receipt : null;
  const decision = {
    waiting: "accepted at the gateway, waiting for attribution (delayed)",
    created: "created conversion 7 as approved",
    duplicate: "duplicate: the conversion already had this status",
    rejected: "rejected by attribution: outside_window",
  };
  const converted = receipt === "created";
  return {
    postback_requests:
      request === "none"
        ? []
        : [
            {
              received_at: at(1),
              method: "GET",
              source: "s2s",
              params: { txid: TXID },
              outcome,
              http_status: status,
              reason,
            },
          ],
    clicks:
      !o.click || o.click === "none"
        ? []
        : [{ id_check: o.click === "valid" ? "valid" : "invalid (signature)", stored: true, link: null }],
    receipts: receipt
      ? [
          {
            id: "3",
            txid: TXID,
            event: "ftd",
            decision: decision[receipt],
            conversion_id: converted ? "7" : null,
          },
        ]
      : [],
    conversions: converted
      ? [
          {
            id: "7",
            status: "approved",
            is_test: o.booking === "test",
            commission_blocked:
              o.booking === "blocked" ? { reason: "fx_rate_missing", message: "no EUR→USD rate" } : null,
            cap_blocked: null,
            review: null,
            ledger: o.booking === "booked" ? [{ type: "commission", payout: "25.00", currency: "EUR" }] : [],
            deliveries:
              o.delivery && o.delivery !== "none"
                ? [
                    {
                      status: o.delivery,
                      url: "https://aff.example/pb",
                      attempts: [{ status_code: 200, latency_ms: 9 }],
                      last_error: "timeout",
                    },
                  ]
                : [],
          },
        ]
      : [],
  };
}

const states = (t: TraceLike, hasTemplate: boolean | null = true) =>
  decisionSteps(t, TXID, hasTemplate).steps.map((s) => s.state);

describe("the decisions of a test postback", () => {
  test("nothing yet: everything waits", () => {
    expect(states(trace({}))).toEqual(Array(6).fill("waiting"));
  });

  test("the whole journey passes once the affiliate's postback is delivered", () => {
    const t = trace({
      request: "accepted",
      click: "valid",
      receipt: "created",
      booking: "booked",
      delivery: "delivered",
    });
    const r = decisionSteps(t, TXID, true);
    expect(r.steps.map((s) => s.state)).toEqual(Array(6).fill("passed"));
    expect(r.done).toBe(true);
    expect(r.steps[4]?.detail).toBe("commission 25.00 EUR");
  });

  test("each failure is named at its step, and ends the journey there", () => {
    expect(states(trace({ request: "unauthorized" }))).toEqual(["failed", ...Array(5).fill("skipped")]);
    expect(states(trace({ request: "unknown_click" }))).toEqual([
      "passed",
      "failed",
      ...Array(4).fill("skipped"),
    ]);
    expect(states(trace({ request: "invalid_amount" }))).toEqual(["failed", ...Array(5).fill("skipped")]);
    expect(states(trace({ request: "accepted", click: "valid", receipt: "rejected" }))).toEqual([
      "passed",
      "passed",
      "passed",
      "failed",
      "skipped",
      "skipped",
    ]);
    const blocked = decisionSteps(
      trace({ request: "accepted", click: "valid", receipt: "created", booking: "blocked" }),
      TXID,
      true,
    );
    expect(blocked.steps[4]).toMatchObject({
      state: "failed",
      detail: expect.stringContaining("fx_rate_missing"),
    });
    expect(blocked.done).toBe(true);
  });

  test("a duplicate passes dedup and changes nothing after it", () => {
    expect(states(trace({ request: "duplicate", click: "valid", receipt: "created" }))).toEqual([
      "passed",
      "passed",
      "passed",
      "skipped",
      "skipped",
      "skipped",
    ]);
  });

  test("no template: nothing to deliver; with one, the sender is waited for", () => {
    const booked = trace({ request: "accepted", click: "valid", receipt: "created", booking: "booked" });
    expect(states(booked, false).at(-1)).toBe("skipped");
    expect(states(booked, true).at(-1)).toBe("waiting");
    expect(
      states(
        trace({
          request: "accepted",
          click: "valid",
          receipt: "created",
          booking: "booked",
          delivery: "dead",
        }),
      ).at(-1),
    ).toBe("failed");
  });

  test("over any point of any journey: steps in order, nothing passes after a step still waiting, nothing but skipped after a failure", () => {
    const choice = <T extends string>(...xs: T[]) => fc.constantFrom(...xs);
    fc.assert(
      fc.property(
        fc.record({
          request: choice("none", "accepted", "duplicate", "unauthorized", "unknown_click", "invalid_amount"),
          click: choice("none", "valid", "invalid"),
          receipt: choice("none", "waiting", "created", "duplicate", "rejected"),
          booking: choice("none", "booked", "blocked", "test"),
          delivery: choice("none", "pending", "delivered", "dead"),
        }),
        fc.constantFrom(true, false, null),
        (o, hasTemplate) => {
          const r = decisionSteps(trace(o), TXID, hasTemplate);
          expect(r.steps.map((s) => s.step)).toEqual([
            "auth",
            "click_id",
            "dedup",
            "attribution",
            "booking",
            "delivery",
          ]);
          const s = r.steps.map((x) => x.state);
          const firstWaiting = s.indexOf("waiting");
          if (firstWaiting >= 0) expect(s.slice(firstWaiting).every((x) => x === "waiting")).toBe(true);
          const firstFailed = s.indexOf("failed");
          if (firstFailed >= 0) expect(s.slice(firstFailed + 1).every((x) => x === "skipped")).toBe(true);
          expect(r.done).toBe(!s.includes("waiting"));
          for (const step of r.steps) expect(step.detail.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});

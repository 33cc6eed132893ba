import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminHarness, type Harness, program } from "../../test-support.ts";

let h: Harness;
beforeAll(async () => {
  h = await adminHarness("offers");
});
afterAll(() => h.cleanup());

type Event = { code: string; window_days: number; cap_daily: number | null; cap_monthly: number | null };

describe("offer events", () => {
  test("conversion caps are set with the event, changed or removed later, and audited", async () => {
    const p = await program(h);
    const put = (body: unknown) =>
      h.call<Event>("PUT", `/v1/offers/${p.offer.id}/events/ftd`, h.keys.manager, body);
    expect((await put({ cap_daily: 50, cap_monthly: 1000 })).body).toMatchObject({
      cap_daily: 50,
      cap_monthly: 1000,
    });
    // Changing the window leaves the caps alone; null removes one.
    expect((await put({ window_days: 7 })).body).toMatchObject({
      window_days: 7,
      cap_daily: 50,
      cap_monthly: 1000,
    });
    expect((await put({ cap_daily: null })).body).toMatchObject({ cap_daily: null, cap_monthly: 1000 });
    const refused = await put({ cap_daily: 0 });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain("cap_daily");
    const offer = await h.ok<{ events: Event[] }>("GET", `/v1/offers/${p.offer.id}`);
    expect(offer.events.find((e) => e.code === "ftd")).toMatchObject({
      window_days: 7,
      cap_daily: null,
      cap_monthly: 1000,
    });
    const [audit] = await h.sql`
      select before, after from audit_log where resource = 'offer-events' and resource_id = ${`${p.offer.id}:ftd`}
      order by id desc limit 1`;
    expect(audit?.before).toMatchObject({ cap_daily: 50 });
    expect(audit?.after).toMatchObject({ cap_daily: null });
  });

  test("caps can be given when the offer is created", async () => {
    const p = await program(h);
    const offer = await h.ok<{ events: Event[] }>("POST", "/v1/offers", {
      brand_id: p.brand.id,
      advertiser_id: p.advertiser.id,
      name: "Capped",
      destination_url: "https://casino.example/?cid={click_id}",
      currency: "EUR",
      events: [{ code: "lead", cap_daily: 10 }],
    });
    expect(offer.events).toEqual([
      expect.objectContaining({ code: "lead", cap_daily: 10, cap_monthly: null }),
    ]);
  });
});

describe("currencies", () => {
  test("an offer's currency must be an ISO 4217 code, not any three letters", async () => {
    const p = await program(h);
    const create = (currency: string) =>
      h.call("POST", "/v1/offers", h.keys.manager, {
        brand_id: p.brand.id,
        advertiser_id: p.advertiser.id,
        name: `In ${currency}`,
        destination_url: "https://casino.example/?cid={click_id}",
        currency,
        events: [{ code: "ftd" }],
      });
    const refused = await create("ZZZ");
    expect(refused.status).toBe(400);
    expect(refused.text).toContain("currency");
    const ok = await create("SEK");
    expect(ok.status).toBe(201);
  });
});

describe("payout caps", () => {
  test("need a fallback URL and an amount above zero; set on an offer without one, today's and this month's counters start from the ledger", async () => {
    const p = await program(h);
    const patch = (body: unknown) =>
      h.call<Record<string, unknown>>("PATCH", `/v1/offers/${p.offer.id}`, h.keys.manager, body);
    const homeless = await patch({ payout_cap_daily: "50" });
    expect(homeless.status).toBe(400);
    expect(homeless.text).toContain("fallback_url");
    for (const bad of ["0", "0.000", "-5", "abc"]) {
      const refused = await patch({ payout_cap_daily: bad, fallback_url: "https://elsewhere.example/" });
      expect(refused.status).toBe(400);
      expect(refused.text).toContain("payout_cap_daily");
    }
    const set = await patch({
      payout_cap_daily: "50.5",
      fallback_url: "https://elsewhere.example/?c={click_id}",
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ payout_cap_daily: "50.500000", payout_cap_monthly: null });
    const counters = await h.sql`
      select period, payout::text from offer_payout_usage where offer_id = ${p.offer.id} order by period`;
    expect(counters.map((c) => [c.period, c.payout])).toEqual([
      ["day", "0.000000"],
      ["month", "0.000000"],
    ]);
    // The fallback stays while a payout cap does.
    const orphaned = await patch({ fallback_url: null });
    expect(orphaned.status).toBe(400);
    expect(orphaned.text).toContain("fallback_url");
    expect((await patch({ payout_cap_daily: null })).body).toMatchObject({ payout_cap_daily: null });
  });
});

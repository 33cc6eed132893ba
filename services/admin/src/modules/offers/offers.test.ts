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

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminHarness, type Harness, program } from "../../test-support.ts";

let h: Harness;
let p: Awaited<ReturnType<typeof program>>;
let other: { id: string };
let elsewhere: Awaited<ReturnType<typeof program>>;

beforeAll(async () => {
  h = await adminHarness("linkrouting");
  p = await program(h);
  other = await h.ok<{ id: string }>("POST", "/v1/offers", {
    brand_id: p.brand.id,
    advertiser_id: p.advertiser.id,
    name: "Mobile",
    destination_url: "https://mobile.example/?cid={click_id}",
    currency: "EUR",
    events: [{ code: "ftd" }],
  });
  elsewhere = await program(h);
}, 60_000);
afterAll(async () => {
  await h?.cleanup();
}, 30_000);

type Destination = { id: string; offer_id: string; link_id: string; weight: number };
type Routing = {
  link_id: string;
  timezone: string;
  rules: { id: string; name: string | null; when: Record<string, unknown>; destinations: Destination[] }[];
  fallback: { id: string; destinations: Destination[] } | null;
};

describe("link routing through admin", () => {
  test("set, read, replace and remove; destinations on other offers get the affiliate's link on them; audited", async () => {
    const empty = await h.ok<Routing>("GET", `/v1/links/${p.link.id}/routing`);
    expect(empty).toMatchObject({ link_id: p.link.id, timezone: "Europe/Malta", rules: [], fallback: null });

    const set = await h.call<Routing>("PUT", `/v1/links/${p.link.id}/routing`, h.keys.manager, {
      rules: [
        {
          name: "iOS in DE/AT",
          when: { countries: ["DE", "AT"], device_types: ["mobile"], os: ["iOS"] },
          destinations: [{ offer_id: other.id, weight: 3 }, { offer_id: p.offer.id }],
        },
        {
          when: { languages: ["pt-BR"], hours: { from: "22:00", to: "06:00" }, weekdays: ["sat", "sun"] },
          destinations: [{ offer_id: other.id }],
        },
      ],
    });
    expect(set.status).toBe(200);
    const routing = set.body;
    expect(routing.rules).toHaveLength(2);
    const [first, second] = routing.rules;
    expect(first?.name).toBe("iOS in DE/AT");
    expect(first?.when).toEqual({ countries: ["DE", "AT"], device_types: ["mobile"], os: ["iOS"] });
    const toOther = first?.destinations[0] as Destination;
    expect(toOther).toMatchObject({ offer_id: other.id, weight: 3 });
    expect(toOther.link_id).not.toBe(p.link.id);
    // The link's own offer is served by the link itself; the fallback defaults to it.
    expect(first?.destinations[1]).toMatchObject({ offer_id: p.offer.id, link_id: p.link.id, weight: 1 });
    expect(routing.fallback?.destinations).toEqual([
      expect.objectContaining({ offer_id: p.offer.id, link_id: p.link.id, weight: 1 }),
    ]);
    // One destination link per offer, reused across rules, shown as a link of the affiliate.
    expect(second?.destinations[0]?.link_id).toBe(toOther.link_id);
    const child = await h.ok<Record<string, unknown>>("GET", `/v1/links/${toOther.link_id}`);
    expect(child).toMatchObject({
      offer_id: other.id,
      affiliate_id: p.affiliate.id,
      parent_link_id: p.link.id,
    });

    // Replaced as a whole: new rule ids, the same destination link; the old rules are retired, not gone.
    const replaced = await h.ok<Routing>("PUT", `/v1/links/${p.link.id}/routing`, {
      rules: [{ when: { countries: ["GB"] }, destinations: [{ offer_id: other.id }] }],
      fallback: [
        { offer_id: p.offer.id, weight: 2 },
        { offer_id: other.id, weight: 1 },
      ],
    });
    expect(replaced.rules.map((r) => r.id)).not.toContain(first?.id);
    expect(replaced.rules[0]?.destinations[0]?.link_id).toBe(toOther.link_id);
    expect(replaced.fallback?.destinations.map((d) => d.weight)).toEqual([2, 1]);
    const [retired] = await h.sql`select retired_at from link_routes where id = ${first?.id as string}`;
    expect(retired?.retired_at).toBeInstanceOf(Date);

    const removed = await h.ok<{ deleted: boolean }>("DELETE", `/v1/links/${p.link.id}/routing`);
    expect(removed.deleted).toBe(true);
    expect((await h.ok<{ deleted: boolean }>("DELETE", `/v1/links/${p.link.id}/routing`)).deleted).toBe(
      false,
    );
    expect(await h.ok<Routing>("GET", `/v1/links/${p.link.id}/routing`)).toMatchObject({
      rules: [],
      fallback: null,
    });

    const audit = await h.sql`
      select action, resource from audit_log where (resource = 'link-routing' and resource_id = ${p.link.id})
         or (resource = 'links' and resource_id = ${toOther.link_id}) order by id`;
    expect(audit.map((a) => `${a.resource} ${a.action}`)).toEqual([
      "links create",
      "link-routing create",
      "link-routing update",
      "link-routing delete",
    ]);
  });

  test("bad input names the field", async () => {
    const bad = async (body: unknown, field: string, path = `/v1/links/${p.link.id}/routing`) => {
      const r = await h.call<{ error: { field?: string; message: string } }>("PUT", path, h.keys.admin, body);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.field, JSON.stringify(r.body)).toBe(field);
    };
    const dest = [{ offer_id: p.offer.id }];
    await bad({ rules: [{ when: { countries: ["de"] }, destinations: dest }] }, "rules.0.when.countries.0");
    await bad(
      { rules: [{ when: { device_types: ["phone"] }, destinations: dest }] },
      "rules.0.when.device_types.0",
    );
    await bad(
      { rules: [{ when: { hours: { from: "24:00", to: "06:00" } }, destinations: dest }] },
      "rules.0.when.hours.from",
    );
    await bad({ rules: [{ when: { weekdays: ["monday"] }, destinations: dest }] }, "rules.0.when.weekdays.0");
    await bad(
      { rules: [{ when: { languages: ["english!"] }, destinations: dest }] },
      "rules.0.when.languages.0",
    );
    await bad(
      { rules: [{ destinations: [{ offer_id: p.offer.id, weight: 0 }] }] },
      "rules.0.destinations.0.weight",
    );
    await bad({ rules: [{ destinations: [] }] }, "rules.0.destinations");
    await bad({ rules: [{ when: { colour: ["red"] }, destinations: dest }] }, "rules.0.when.colour");
    await bad({ rules: [], surprise: true }, "surprise");
    await bad({ rules: [{ destinations: [{ offer_id: "999999999" }] }] }, "rules.0.destinations.0.offer_id");
    await bad({ rules: [], fallback: [{ offer_id: elsewhere.offer.id }] }, "fallback.0.offer_id");
    // A destination link cannot route further.
    const routed = await h.ok<Routing>("PUT", `/v1/links/${p.link.id}/routing`, {
      rules: [{ destinations: [{ offer_id: other.id }] }],
    });
    await bad({ rules: [] }, "id", `/v1/links/${routed.rules[0]?.destinations[0]?.link_id}/routing`);
    const missing = await h.call("PUT", "/v1/links/999999999/routing", h.keys.admin, { rules: [] });
    expect(missing.status).toBe(404);
  });

  test("staff only: an analyst reads, only admin and manager write, an affiliate key is refused", async () => {
    expect((await h.call("GET", `/v1/links/${p.link.id}/routing`, h.keys.analyst)).status).toBe(200);
    expect(
      (await h.call("PUT", `/v1/links/${p.link.id}/routing`, h.keys.analyst, { rules: [] })).status,
    ).toBe(403);
  });
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminHarness, type Harness, program } from "../../test-support.ts";

let h: Harness;
let p: Awaited<ReturnType<typeof program>>;

beforeAll(async () => {
  h = await adminHarness("trafficrules");
  p = await program(h);
});
afterAll(async () => {
  await h?.cleanup();
});

type Rule = {
  id: string;
  offer_id: string | null;
  reason: string;
  event: string | null;
  threshold: number | null;
  action: string;
};

describe("traffic rules through admin", () => {
  test("set per offer and program-wide, replaced in place for the same scope, audited; bad input names the field", async () => {
    const program = await h.call<Rule>("PUT", "/v1/traffic-rules", h.keys.manager, {
      reason: "click_flood_ip",
      threshold: 20,
      action: "flag",
    });
    expect(program.status).toBe(200);
    expect(program.body).toMatchObject({
      offer_id: null,
      reason: "click_flood_ip",
      threshold: 20,
      action: "flag",
    });
    const offer = await h.ok<Rule>("PUT", "/v1/traffic-rules", {
      offer_id: p.offer.id,
      reason: "ctit_too_fast",
      event: "ftd",
      threshold: 30,
      action: "hold",
    });
    const replaced = await h.ok<Rule>("PUT", "/v1/traffic-rules", {
      offer_id: p.offer.id,
      reason: "ctit_too_fast",
      event: "ftd",
      threshold: 45,
      action: "reject",
    });
    expect(replaced.id).toBe(offer.id);
    expect(replaced).toMatchObject({ threshold: 45, action: "reject" });
    const listed = await h.ok<{ data: Rule[] }>("GET", `/v1/traffic-rules?offer_id=${p.offer.id}`);
    expect(listed.data.map((r) => [r.reason, r.event, r.threshold])).toEqual([["ctit_too_fast", "ftd", 45]]);
    const audit =
      await h.sql`select action, before, after from audit_log where resource = 'traffic-rules' and resource_id = ${offer.id} order by id`;
    expect(audit.map((a) => a.action)).toEqual(["create", "update"]);
    expect(audit[1]?.before).toMatchObject({ threshold: 30, action: "hold" });

    const bad = async (body: Record<string, unknown>, field: string) => {
      const r = await h.call<{ error: { field?: string; message: string } }>(
        "PUT",
        "/v1/traffic-rules",
        h.keys.admin,
        body,
      );
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.body)).toContain(field);
    };
    await bad({ reason: "no_such_rule", action: "flag" }, "reason");
    await bad({ reason: "bot", action: "ban" }, "action");
    await bad({ reason: "same_device", event: "ftd", action: "flag" }, "event");
    await bad({ reason: "bot", threshold: 5, action: "flag" }, "threshold");
    await bad({ reason: "ctit_too_fast", threshold: 0, action: "flag" }, "threshold");
    await bad({ offer_id: "999999", reason: "bot", action: "flag" }, "offer_id");
    // Analysts read, never write; affiliates do not see rules at all.
    expect(
      (await h.call("PUT", "/v1/traffic-rules", h.keys.analyst, { reason: "bot", action: "flag" })).status,
    ).toBe(403);
    expect((await h.call("GET", "/v1/traffic-rules", await h.affiliateKey(p.affiliate.id))).status).toBe(403);

    const defaults = await h.ok<{ data: { reason: string; threshold_unit: string | null }[] }>(
      "GET",
      "/v1/traffic-rules/defaults",
    );
    expect(defaults.data.find((d) => d.reason === "click_flood_ip")?.threshold_unit).toBe(
      "clicks_per_minute",
    );
    const removed = await h.call("DELETE", `/v1/traffic-rules/${offer.id}`, h.keys.admin);
    expect(removed.status).toBe(200);
    expect((await h.call("DELETE", `/v1/traffic-rules/${offer.id}`, h.keys.admin)).status).toBe(404);
  });
});

describe("IP lists through admin", () => {
  const upload = (id: string, body: string, type: string, mode = "replace") =>
    fetch(`${h.url}/v1/ip-lists/${id}/entries?mode=${mode}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${h.keys.admin}`, "content-type": type },
      body,
    });

  test("created, loaded from CSV and JSON (normalised, deduplicated), replaced or appended, audited; a bad entry names its line", async () => {
    const list = await h.call<{ id: string }>("POST", "/v1/ip-lists", h.keys.admin, {
      name: "hosting",
      kind: "datacenter",
      source: "operator CSV",
    });
    expect(list.status).toBe(201);
    const id = list.body.id;
    const csv = "cidr\n# a comment line\n203.0.113.7/24\n198.51.100.9\n2001:db8::1/32\n198.51.100.9\n";
    const r = await upload(id, csv, "text/csv");
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ uploaded: 3, entry_count: 3 });
    const got = await h.ok<{ entries: string[]; entry_count: number }>("GET", `/v1/ip-lists/${id}`);
    expect(got.entries.sort()).toEqual(["198.51.100.9/32", "2001:db8::/32", "203.0.113.0/24"]);

    const appended = await upload(
      id,
      JSON.stringify({ entries: ["192.0.2.0/28"] }),
      "application/json",
      "append",
    );
    expect(await appended.json()).toMatchObject({ entry_count: 4 });
    const replaced = await upload(id, JSON.stringify({ entries: ["192.0.2.0/28"] }), "application/json");
    expect(await replaced.json()).toMatchObject({ entry_count: 1 });

    const bad = await upload(id, "10.0.0.0/8\n10.0.0.300\n", "text/csv");
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("line 2");
    expect((await h.ok<{ entry_count: number }>("GET", `/v1/ip-lists/${id}`)).entry_count).toBe(1);
    expect((await h.call("POST", "/v1/ip-lists", h.keys.admin, { name: "x", kind: "hostile" })).status).toBe(
      400,
    );
    expect(
      (await h.call("POST", "/v1/ip-lists", h.keys.admin, { name: "hosting", kind: "vpn" })).status,
    ).toBe(409);

    const audit =
      await h.sql`select action, after from audit_log where resource = 'ip-lists' and resource_id = ${id} order by id`;
    expect(audit.map((a) => a.action)).toEqual([
      "create",
      "replace_entries",
      "append_entries",
      "replace_entries",
    ]);
  });
});

describe("click caps through admin", () => {
  test("a click cap needs a fallback URL, and the fallback cannot be removed while a cap is set", async () => {
    const path = `/v1/offers/${p.offer.id}`;
    const noFallback = await h.call<{ error: { field?: string } }>("PATCH", path, h.keys.admin, {
      click_cap_daily: 100,
    });
    expect(noFallback.status).toBe(400);
    expect(JSON.stringify(noFallback.body)).toContain("fallback_url");
    const set = await h.call<{ click_cap_daily: number; fallback_url: string }>("PATCH", path, h.keys.admin, {
      click_cap_daily: 100,
      fallback_url: "https://fallback.example/?cid={click_id}",
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({
      click_cap_daily: 100,
      fallback_url: "https://fallback.example/?cid={click_id}",
    });
    expect((await h.call("PATCH", path, h.keys.admin, { fallback_url: null })).status).toBe(400);
    expect((await h.call("PATCH", path, h.keys.admin, { click_cap_daily: 0 })).status).toBe(400);
    expect(
      (await h.call("PATCH", path, h.keys.admin, { click_cap_daily: null, fallback_url: null })).status,
    ).toBe(200);
  });
});

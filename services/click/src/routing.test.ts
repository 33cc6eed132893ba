import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Bus, connectBus, provision } from "@roundtrip/bus";
import { ClickIdCodec } from "@roundtrip/clickid";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { startServiceForTest, type TestService } from "@roundtrip/service";
import { AgentParser } from "./visitor-agent.ts";
import { buildClick, clickEnv } from "./service.ts";

/**
 * Routing through the deployed click service (docs/routing.md): rules on country (the bundled
 * GeoIP data), device and OS (ua-parser-js), browser language; the click ID names the
 * destination's link; capped destinations give way to the next, then the fallback.
 */
const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const CLICK_ID_KEYS = `k1:${"r".repeat(40)}`;
const codec = ClickIdCodec.fromSpec(CLICK_ID_KEYS);

const CHROME_WINDOWS =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const SAFARI_IPHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const CHROME_ANDROID_TABLET =
  "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const SAFARI_MAC =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15";

let db: TestDatabase;
let sql: Sql;
let bus: Bus;
let click: TestService;
const offers: Record<string, string> = {};
const links: Record<string, string> = {};
const rules: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase("clickroute");
  sql = db.sql;
  bus = await connectBus({
    url: NATS_URL,
    prefix: `crt${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`,
    name: "click-routing-test",
  });
  await provision(bus);
  const [b] =
    await sql`insert into brands (slug, name, currency, timezone) values ('sb', 'Sportsbook', 'EUR', 'Europe/Berlin') returning id`;
  const [a] = await sql`insert into advertisers (brand_id, name) values (${b?.id}, 'Adv') returning id`;
  const offer = async (name: string) => {
    const [o] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
      values (${b?.id}, ${a?.id}, ${name}, ${`https://${name}.example/?cid={click_id}&o={offer_id}`}, 'EUR') returning id`;
    offers[name] = o?.id;
  };
  for (const name of ["home", "uk", "mobile", "german", "full", "spare"]) await offer(name);
  await sql`update offers set click_cap_lifetime = 1, fallback_url = 'https://full-fallback.example/?cid={click_id}' where id = ${String(offers.full)}`;
  await sql`update offers set click_cap_lifetime = 1, fallback_url = 'https://spare-fallback.example/?cid={click_id}' where id = ${String(offers.spare)}`;
  const [af] = await sql`insert into affiliates (name) values ('Aff') returning id`;
  const [smart] =
    await sql`insert into links (code, offer_id, affiliate_id) values ('smart', ${String(offers.home)}, ${af?.id}) returning id`;
  links.smart = smart?.id;
  // One link per destination offer, as admin creates them (parent_link_id = the smart link).
  for (const name of ["uk", "mobile", "german", "full", "spare"]) {
    const [l] = await sql`insert into links (code, offer_id, affiliate_id, parent_link_id)
      values (${`smart-${name}`}, ${String(offers[name])}, ${af?.id}, ${smart?.id}) returning id`;
    links[name] = l?.id;
  }
  links.home = smart?.id;
  const rule = async (
    key: string,
    position: number,
    conditions: unknown,
    targets: string[],
    fallback = false,
  ) => {
    const [r] = await sql`insert into link_routes (link_id, position, fallback, conditions)
      values (${smart?.id}, ${position}, ${fallback}, ${sql.json(conditions as never)}) returning id`;
    rules[key] = r?.id;
    for (const [i, t] of targets.entries())
      await sql`insert into link_route_destinations (route_id, position, offer_id, target_link_id, weight)
        values (${r?.id}, ${i}, ${String(offers[t])}, ${String(links[t])}, 1)`;
  };
  await rule("uk", 0, { countries: ["GB"] }, ["uk"]);
  await rule("iphone", 1, { device_types: ["mobile"], os: ["iOS"] }, ["mobile"]);
  await rule("german", 2, { languages: ["de"] }, ["german"]);
  // Android tablets: both destinations capped at one click — the second click finds both full.
  await rule("tablet", 3, { device_types: ["tablet"] }, ["full", "spare"]);
  await rule("fallback", 4, {}, ["home"], true);
  // A second link whose rule and fallback are both capped offers.
  const [all] =
    await sql`insert into links (code, offer_id, affiliate_id) values ('allcapped', ${String(offers.home)}, ${af?.id}) returning id`;
  const [spare2] = await sql`insert into links (code, offer_id, affiliate_id, parent_link_id)
    values ('allcapped-spare', ${String(offers.spare)}, ${af?.id}, ${all?.id}) returning id`;
  const [full2] = await sql`insert into links (code, offer_id, affiliate_id, parent_link_id)
    values ('allcapped-full', ${String(offers.full)}, ${af?.id}, ${all?.id}) returning id`;
  for (const [position, fallback, offer, target] of [
    [0, false, offers.spare, spare2?.id],
    [1, true, offers.full, full2?.id],
  ] as const) {
    const [r] =
      await sql`insert into link_routes (link_id, position, fallback) values (${all?.id}, ${position}, ${fallback}) returning id`;
    await sql`insert into link_route_destinations (route_id, position, offer_id, target_link_id, weight)
      values (${r?.id}, 0, ${String(offer)}, ${String(target)}, 1)`;
  }
  // A third link for the race across replicas: every click matches its rule, whose only
  // destination is capped at 5 clicks; the fallback is uncapped.
  const [race] =
    await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency, click_cap_lifetime, fallback_url)
    values (${b?.id}, ${a?.id}, 'race', 'https://race.example/?cid={click_id}', 'EUR', 5, 'https://race-full.example/?cid={click_id}') returning id`;
  const [raceLink] =
    await sql`insert into links (code, offer_id, affiliate_id) values ('race', ${String(offers.home)}, ${af?.id}) returning id`;
  const [raceTarget] = await sql`insert into links (code, offer_id, affiliate_id, parent_link_id)
    values ('race-capped', ${race?.id}, ${af?.id}, ${raceLink?.id}) returning id`;
  offers.race = race?.id;
  for (const [position, fallback, offer, target] of [
    [0, false, race?.id, raceTarget?.id],
    [1, true, offers.home, raceLink?.id],
  ] as const) {
    const [r] =
      await sql`insert into link_routes (link_id, position, fallback) values (${raceLink?.id}, ${position}, ${fallback}) returning id`;
    await sql`insert into link_route_destinations (route_id, position, offer_id, target_link_id, weight)
      values (${r?.id}, 0, ${String(offer)}, ${String(target)}, 1)`;
  }
  // A retired rule is history, never evaluated.
  await sql`insert into link_routes (link_id, position, conditions, retired_at) values (${smart?.id}, 0, '{}', now())`;

  click = await startServiceForTest("click", clickEnv, buildClick, {
    sql,
    bus,
    env: {
      CLICK_ID_KEYS,
      CLICK_SINK: "postgres",
      CLICK_BATCH_DELAY_MS: "2",
      TRUSTED_PROXIES: "127.0.0.0/8, ::1/128",
      IP_TRUNCATE: "last-octet",
    },
  });
}, 60_000);

afterAll(async () => {
  await click?.stop();
  if (bus) {
    for await (const name of bus.jsm.streams.names())
      if (name.startsWith(`${bus.names.prefix}_`)) await bus.jsm.streams.delete(name);
    await bus.close();
  }
  await db?.drop();
}, 30_000);

/** A visitor from `ip` (behind the trusted loopback proxy) with a browser and languages. */
async function visit(ip: string, userAgent: string, acceptLanguage = "en-US,en;q=0.9", code = "smart") {
  const res = await fetch(`${click.url}/c/${code}?sub1=s`, {
    redirect: "manual",
    headers: { "user-agent": userAgent, "x-forwarded-for": ip, "accept-language": acceptLanguage },
  });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get("location") as string);
  const clickId = location.searchParams.get("cid") as string;
  const [row] = await sql`select * from clicks where click_id = ${clickId}`;
  return { host: location.host, clickId, row: row as Record<string, unknown> };
}

describe("the user agents rules are written against", () => {
  test("ua-parser-js reads device class and OS from known browsers", () => {
    const agents = new AgentParser();
    expect(agents.traits(SAFARI_IPHONE)).toMatchObject({ device_type: "mobile", os: "iOS" });
    expect(agents.traits(CHROME_WINDOWS)).toMatchObject({ device_type: "desktop", os: "Windows" });
    expect(agents.traits(CHROME_ANDROID_TABLET)).toMatchObject({ device_type: "tablet", os: "Android" });
    expect(agents.traits(SAFARI_MAC)).toMatchObject({ device_type: "desktop", os: "Mac OS" });
  });
});

describe("routing on the redirect", () => {
  test("country from the bundled GeoIP data: a UK address goes to the UK offer, the click names rule, destination and the link followed", async () => {
    const uk = await visit("81.2.69.142", CHROME_WINDOWS);
    expect(uk.host).toBe("uk.example");
    const verified = codec.verify(uk.clickId);
    expect(verified.ok && verified.claims.linkId).toBe(Number(links.uk));
    expect(uk.row).toMatchObject({
      link_id: links.uk,
      offer_id: offers.uk,
      via_link_id: links.smart,
      route_rule_id: rules.uk,
      country: "GB",
      ip: "81.2.69.0",
      subs: { sub1: "s" },
    });
    const [dest] =
      await sql`select offer_id from link_route_destinations where id = ${uk.row.route_destination_id as string}`;
    expect(dest?.offer_id).toBe(offers.uk);
  });

  test("device and OS: an iPhone goes to the mobile offer, a Windows desktop from the US falls back to the link's own offer", async () => {
    const phone = await visit("8.8.8.8", SAFARI_IPHONE);
    expect(phone.host).toBe("mobile.example");
    expect(phone.row).toMatchObject({
      route_rule_id: rules.iphone,
      country: "US",
      device_type: "mobile",
      os: "iOS",
    });
    const desk = await visit("8.8.8.8", CHROME_WINDOWS);
    expect(desk.host).toBe("home.example");
    expect(desk.row).toMatchObject({
      link_id: links.smart,
      via_link_id: links.smart,
      route_rule_id: rules.fallback,
    });
    const verified = codec.verify(desk.clickId);
    expect(verified.ok && verified.claims.linkId).toBe(Number(links.smart));
  });

  test("browser language: German-speaking visitors go to the German offer; rules are tried in order (the UK rule first)", async () => {
    expect((await visit("8.8.8.8", CHROME_WINDOWS, "de-AT,de;q=0.9,en;q=0.5")).host).toBe("german.example");
    expect((await visit("8.8.8.8", CHROME_WINDOWS, "en;q=0.4,de-DE;q=0.8")).host).toBe("german.example");
    expect((await visit("81.2.69.142", CHROME_WINDOWS, "de-DE")).host).toBe("uk.example");
    expect((await visit("8.8.8.8", CHROME_WINDOWS, "fr-FR,de;q=0.9")).host).toBe("home.example");
  });

  test("caps compose with routing: a full destination gives way to the next; when all are full, the first full one's cap fallback", async () => {
    const first = await visit("8.8.4.4", CHROME_ANDROID_TABLET);
    const second = await visit("8.8.4.4", CHROME_ANDROID_TABLET);
    expect([first.host, second.host].sort()).toEqual(["full.example", "spare.example"]);
    // Both full: the fallback (the link's own offer) serves, and says so.
    const third = await visit("8.8.4.4", CHROME_ANDROID_TABLET);
    expect(third.host).toBe("home.example");
    expect(third.row).toMatchObject({ route_rule_id: rules.fallback, reasons: [] });
    // A link whose rule and fallback are all full: the visitor goes to the cap fallback URL of
    // the first full destination (the rule's), recorded with reason click_cap.
    const capped = await visit("8.8.4.4", CHROME_WINDOWS, "en", "allcapped");
    expect(capped.host).toBe("spare-fallback.example");
    expect(capped.row).toMatchObject({ offer_id: offers.spare, reasons: ["click_cap"] });
    // Neither cap was overshot.
    const usage =
      await sql`select used from offer_click_usage where offer_id in ${sql([String(offers.full), String(offers.spare)])}`;
    expect(usage.map((u) => u.used)).toEqual([1, 1]);
  });

  test("a paused destination is skipped: its traffic goes to the fallback", async () => {
    await sql`update offers set status = 'paused' where id = ${String(offers.uk)}`;
    // The cache refreshes on the bus announcement admin sends; the test sends the same.
    const { publish, subjects } = await import("@roundtrip/bus");
    await publish(
      bus,
      subjects.configChanged("offers"),
      { resource: "offers", id: offers.uk },
      { msgId: crypto.randomUUID() },
    );
    const deadline = Date.now() + 10_000;
    let host = "";
    while (Date.now() < deadline) {
      host = (await visit("81.2.69.142", CHROME_WINDOWS)).host;
      if (host !== "uk.example") break;
      await Bun.sleep(50);
    }
    expect(host).toBe("home.example");
  });

  test("a capped destination under concurrent clicks from two click replicas takes exactly its cap; the rest go to the fallback", async () => {
    const second = await startServiceForTest("click", clickEnv, buildClick, {
      sql,
      bus,
      env: {
        CLICK_ID_KEYS,
        CLICK_SINK: "postgres",
        CLICK_BATCH_DELAY_MS: "2",
        TRUSTED_PROXIES: "127.0.0.0/8, ::1/128",
      },
    });
    try {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          fetch(`${i % 2 ? second.url : click.url}/c/race`, {
            redirect: "manual",
            headers: { "user-agent": CHROME_WINDOWS, "x-forwarded-for": `8.8.${i}.8` },
          }),
        ),
      );
      const hosts = answers.map((r) => new URL(r.headers.get("location") as string).host);
      expect(hosts.filter((h) => h === "race.example")).toHaveLength(5);
      expect(hosts.filter((h) => h === "home.example")).toHaveLength(15);
      const [usage] = await sql`select used from offer_click_usage where offer_id = ${String(offers.race)}`;
      expect(usage?.used).toBe(5);
    } finally {
      await second.stop();
    }
  });

  test("HEAD and prefetches are routed like clicks but take no cap place and are not recorded", async () => {
    const res = await fetch(`${click.url}/c/smart`, {
      method: "HEAD",
      redirect: "manual",
      headers: { "user-agent": SAFARI_IPHONE, "x-forwarded-for": "8.8.8.8" },
    });
    expect(new URL(res.headers.get("location") as string).host).toBe("mobile.example");
  });
});

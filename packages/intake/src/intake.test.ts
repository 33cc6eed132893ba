import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { ClickIdCodec } from "@roundtrip/clickid";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { signPostback } from "./auth.ts";
import { type Directory, loadDirectory } from "./directory.ts";
import { DirectoryLookup } from "./directory-lookup.ts";
import { type Channel, type Decision, type IntakeDeps, receive } from "./intake.ts";
import { type ReceiptRow, ReceiptWriter, type Written, writeReceipts } from "./receipts.ts";
import { RequestLog } from "./request-log.ts";

const codec = ClickIdCodec.fromSpec(`t1:${"k".repeat(40)}`);
const TOKEN = "tok_abcdefghijklmnopqrstuvwxyz";
const SECRET = "s".repeat(40);
const sha256 = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");

let db: TestDatabase;
let sql: Sql;
let directory: Directory;
let deps: IntakeDeps;
let ids: {
  brand: string;
  brand2: string;
  adv: string;
  adv2: string;
  offer: string;
  link: number;
  link2: number;
};
let admission: { ok: true } | { ok: false; retryAfterS: number } = { ok: true };

beforeAll(async () => {
  db = await createTestDatabase("intake");
  sql = db.sql;
  const [b] =
    await sql`insert into brands (slug, name, currency) values ('casino', 'Casino', 'EUR') returning id`;
  const [b2] =
    await sql`insert into brands (slug, name, currency) values ('sports', 'Sports', 'EUR') returning id`;
  const [a] = await sql`insert into advertisers (brand_id, name, token_hash, param_aliases)
    values (${b?.id}, 'Adv', ${sha256(TOKEN)}, ${sql.json({ aff_click: "click_id", secret_code: "token" })}) returning id`;
  const [a2] = await sql`insert into advertisers (brand_id, name) values (${b2?.id}, 'Adv2') returning id`;
  const [o] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${b?.id}, ${a?.id}, 'O', 'https://x.example/?c={click_id}', 'EUR') returning id`;
  const [o2] = await sql`insert into offers (brand_id, advertiser_id, name, destination_url, currency)
    values (${b2?.id}, ${a2?.id}, 'O2', 'https://y.example/?c={click_id}', 'EUR') returning id`;
  for (const offer of [o?.id, o2?.id])
    for (const code of ["registration", "ftd", "deposit"])
      await sql`insert into offer_events (offer_id, code) values (${offer}, ${code})`;
  const [af] = await sql`insert into affiliates (name) values ('Aff') returning id`;
  const [l] =
    await sql`insert into links (code, offer_id, affiliate_id) values ('L1', ${o?.id}, ${af?.id}) returning id`;
  const [l2] =
    await sql`insert into links (code, offer_id, affiliate_id) values ('L2', ${o2?.id}, ${af?.id}) returning id`;
  ids = {
    brand: b?.id,
    brand2: b2?.id,
    adv: a?.id,
    adv2: a2?.id,
    offer: o?.id,
    link: Number(l?.id),
    link2: Number(l2?.id),
  };
  directory = await loadDirectory(sql);
  deps = { sql, codec, directory: () => directory, log: new RequestLog(sql), admit: () => admission };
});

afterAll(async () => {
  await db?.drop();
});

beforeEach(async () => {
  admission = { ok: true };
});

async function configure(changes: Record<string, unknown>, keys: string[] = []) {
  const values = Object.fromEntries(
    Object.entries(changes).map(([k, v]) => [k, Array.isArray(v) ? sql.json(v) : v]),
  );
  await sql`update advertisers set ${sql(values as Record<string, never>)} where id = ${ids.adv}`;
  await sql`delete from advertiser_signing_keys where advertiser_id = ${ids.adv}`;
  for (const secret of keys)
    await sql`insert into advertiser_signing_keys (advertiser_id, secret) values (${ids.adv}, ${secret})`;
  directory = await loadDirectory(sql);
}

const s2s = (over: Partial<Extract<Channel, { kind: "s2s" }>> = {}): Channel => ({
  kind: "s2s",
  method: "GET",
  ip: "203.0.113.9",
  signed: { header: null, method: "GET", target: "/postback", body: "" },
  ...over,
});

const post = (raw: Record<string, unknown>, channel: Channel = s2s(), pathBrand?: string) =>
  receive(deps, { channel, raw, ...(pathBrand ? { pathBrand } : {}) });

async function logOf(d: Decision) {
  const rows =
    await sql`select outcome, reason, http_status, params, advertiser_id, brand_id, source from postback_log
    where ${d.receiptId ? sql`receipt_id = ${d.receiptId}` : sql`outcome = ${d.outcome} and reason = ${d.reason}`}
    order by id desc limit 1`;
  return rows[0];
}

describe("intake: accept, dedup, log", () => {
  test("an accepted postback commits receipt, log row and outbox event together", async () => {
    const clickId = codec.mint(ids.link);
    const d = await post({ click_id: clickId, txid: "T-1", event: "ftd", amount: "100.50", token: TOKEN });
    expect(d).toMatchObject({
      status: 200,
      outcome: "accepted",
      duplicate: false,
      advertiserId: ids.adv,
      brandId: ids.brand,
    });
    const [receipt] =
      await sql`select txid, event, amount::text, source, click_id from postback_receipts where id = ${d.receiptId}`;
    expect(receipt).toEqual({
      txid: "T-1",
      event: "ftd",
      amount: "100.500000",
      source: "s2s",
      click_id: clickId,
    });
    const [outbox] =
      await sql`select subject, msg_id, payload from bus_outbox where payload->>'receipt_id' = ${d.receiptId}`;
    expect(outbox?.subject).toBe(`postbacks.received.${ids.adv}`);
    expect(outbox?.payload).toMatchObject({
      receipt_id: d.receiptId,
      txid: "T-1",
      event: "ftd",
      amount: "100.50",
      brand_id: ids.brand,
    });
    expect(await logOf(d)).toMatchObject({
      outcome: "accepted",
      http_status: 200,
      params: { token: "***", txid: "T-1" },
    });
  });

  test("with a txid, a retry is a duplicate forever: same receipt, counted, no second event", async () => {
    const raw = { click_id: codec.mint(ids.link), txid: "T-dup", event: "ftd", token: TOKEN };
    const first = await post(raw);
    const again = await post(raw);
    expect(again).toMatchObject({
      status: 200,
      outcome: "duplicate",
      duplicate: true,
      receiptId: first.receiptId,
    });
    // Even long after: no time limit with a txid.
    await sql`update postback_receipts set received_at = now() - interval '400 days' where id = ${first.receiptId}`;
    expect((await post(raw)).duplicate).toBe(true);
    const [r] = await sql`select duplicates from postback_receipts where id = ${first.receiptId}`;
    expect(r?.duplicates).toBe(2);
    const events = await sql`select 1 from bus_outbox where payload->>'receipt_id' = ${first.receiptId}`;
    expect(events).toHaveLength(1);
  });

  test("without a txid, (click, event, status) within the window is a duplicate; after it, a new receipt", async () => {
    const raw = { click_id: codec.mint(ids.link), event: "deposit", amount: "20", token: TOKEN };
    const first = await post(raw);
    const again = await post(raw);
    expect(again.duplicate).toBe(true);
    expect(again.receiptId).toBe(first.receiptId);
    // Another status of the same click and event is a lifecycle update, not a duplicate.
    expect((await post({ ...raw, status: "approved" })).duplicate).toBe(false);
    await sql`update postback_receipts set received_at = now() - interval '25 hours' where id = ${first.receiptId}`;
    const later = await post(raw);
    expect(later.duplicate).toBe(false);
    expect(later.receiptId).not.toBe(first.receiptId);
  });

  test("the same postback 25 times at once, with and without txid: exactly one accepted", async () => {
    for (const txid of ["T-burst", undefined]) {
      const raw = { click_id: codec.mint(ids.link), event: "ftd", token: TOKEN, ...(txid ? { txid } : {}) };
      const all = await Promise.all(Array.from({ length: 25 }, () => post(raw)));
      expect(all.filter((d) => d.outcome === "accepted")).toHaveLength(1);
      expect(all.filter((d) => d.outcome === "duplicate")).toHaveLength(24);
      expect(new Set(all.map((d) => d.receiptId)).size).toBe(1);
    }
  });

  test("hostile values are stored verbatim or refused by name, never executed", async () => {
    const clickId = codec.mint(ids.link);
    const injected = await post({
      click_id: clickId,
      txid: "1');DROP_TABLE_conversions;--",
      event: "ftd",
      token: TOKEN,
      note: "💥 ' OR 1=1 --",
    });
    expect(injected.status).toBe(200);
    const [r] = await sql`select txid from postback_receipts where id = ${injected.receiptId}`;
    expect(r?.txid).toBe("1');DROP_TABLE_conversions;--");
    const [logged] = await sql`select params from postback_log where receipt_id = ${injected.receiptId}`;
    expect(logged?.params.note).toBe("💥 ' OR 1=1 --");

    const cases: [Record<string, unknown>, string][] = [
      [{ click_id: clickId, txid: "ü-unicode", event: "ftd", token: TOKEN }, "txid"],
      [{ click_id: clickId, event: "ftd", amount: "NaN", token: TOKEN }, "amount"],
      [{ click_id: clickId, event: "ftd", amount: "1e9", token: TOKEN }, "amount"],
      [{ click_id: clickId, event: "<script>", token: TOKEN }, "event"],
      [{ click_id: clickId, event: "ftd", currency: "€€€", token: TOKEN }, "currency"],
      [{ click_id: clickId, token: TOKEN }, "event"],
      [{ click_id: clickId, event: "ftd", amount: ["1", "2"], token: TOKEN }, "amount"],
      [{ click_id: clickId, event: "ftd", amount: { n: 1 }, token: TOKEN }, "amount"],
      [{ click_id: clickId, event: "refund", token: TOKEN }, "txid"],
    ];
    for (const [raw, field] of cases) {
      const d = await post(raw);
      expect(d.status).toBe(400);
      expect((d.body.error as { field: string }).field).toBe(field);
    }
  });
});

describe("intake: hostile bytes, currencies and events", () => {
  test("a NUL or a lone surrogate in any field, ours or not, is refused by name and logged escaped", async () => {
    const clickId = codec.mint(ids.link);
    const cases: [Record<string, unknown>, string][] = [
      [{ click_id: clickId, event: "ftd", txid: "NUL\u0000", token: TOKEN }, "txid"],
      [{ click_id: clickId, event: "ftd", timestamp: "2026\u0000", token: TOKEN }, "timestamp"],
      [{ click_id: clickId, event: "ftd", note: "a\u0000b", token: TOKEN }, "note"],
      [{ click_id: clickId, event: "ftd", note: "\ud800", token: TOKEN }, "note"],
      [{ click_id: clickId, event: "ftd", token: `${TOKEN}\u0000` }, "token"],
      [{ click_id: clickId, event: "ftd", "x\u0000y": "1", token: TOKEN }, "x\\u0000y"],
    ];
    for (const [raw, field] of cases) {
      const d = await post(raw);
      expect(d.status).toBe(400);
      expect((d.body.error as { field: string }).field).toBe(field);
    }
    const escaped = "\\ud800"; // the six characters, as the log keeps them
    const [logged] = await sql`select params from postback_log where params->>'note' = ${escaped}`;
    expect(logged?.params).toMatchObject({ note: "\\ud800", token: "***" });
    // A click ID with a NUL is not ours: 422 before anything else, and the log still takes it.
    const bad = await post({ click_id: `${clickId}\u0000`, event: "ftd", token: TOKEN });
    expect(bad.status).toBe(422);
  });

  test("a currency must be an ISO 4217 code: three letters are not enough", async () => {
    const clickId = codec.mint(ids.link);
    for (const currency of ["ZZZ", "XXX", "EURO"]) {
      const d = await post({
        click_id: clickId,
        txid: `CUR-${currency}`,
        event: "ftd",
        currency,
        token: TOKEN,
      });
      expect(d.status).toBe(400);
      expect((d.body.error as { field: string }).field).toBe("currency");
    }
    const ok = await post({
      click_id: clickId,
      txid: "CUR-usd",
      event: "ftd",
      currency: "usd",
      token: TOKEN,
    });
    expect(ok.status).toBe(200);
  });

  test("an event the offer does not define answers 422 naming it and listing the offer's events", async () => {
    const clickId = codec.mint(ids.link);
    const d = await post({ click_id: clickId, txid: "EV-1", event: "withdrawal", token: TOKEN });
    expect(d).toMatchObject({ status: 422, reason: "unknown_event" });
    const error = d.body.error as { field: string; message: string; events: string[] };
    expect(error.field).toBe("event");
    expect(error.message).toContain('"withdrawal"');
    expect(error.events).toEqual(["deposit", "ftd", "registration", "refund", "chargeback"]);
    expect(await sql`select 1 from postback_receipts where txid = 'EV-1'`).toHaveLength(0);
    expect(await logOf(d)).toMatchObject({ reason: "unknown_event", http_status: 422 });
  });

  test("a link or an event newer than the held directory is looked up before refusing", async () => {
    const [link] =
      await sql`insert into links (code, offer_id, affiliate_id) select 'NEW', offer_id, affiliate_id from links where id = ${ids.link} returning id`;
    await sql`insert into offer_events (offer_id, code) values (${ids.offer}, 'kyc')`;
    const held = directory; // loaded before the link and the event existed
    let loads = 0;
    const fresh: IntakeDeps = {
      ...deps,
      directory: () => held,
      lookup: new DirectoryLookup(sql, async () => {
        loads++;
        return loadDirectory(sql);
      }),
    };
    const d = await receive(fresh, {
      channel: s2s(),
      raw: { click_id: codec.mint(Number(link?.id)), txid: "NEW-1", event: "kyc", token: TOKEN },
    });
    expect(d).toMatchObject({ status: 200, outcome: "accepted" });
    expect(loads).toBe(1);
    // A link the held copy knows, with an event added since.
    const e = await receive(fresh, {
      channel: s2s(),
      raw: { click_id: codec.mint(ids.link), txid: "NEW-2", event: "kyc", token: TOKEN },
    });
    expect(e).toMatchObject({ status: 200, outcome: "accepted" });
    expect(loads).toBe(2);
    // Without the look-up the same requests are refused as before.
    const stale = await receive(
      { ...deps, directory: () => held },
      { channel: s2s(), raw: { click_id: codec.mint(Number(link?.id)), event: "ftd", token: TOKEN } },
    );
    expect(stale.reason).toBe("click_id_unknown_link");
  });
});

describe("intake: names the directory lacks", () => {
  test("unknown events and links of deleted offers never reload the directory; a miss is remembered a while", async () => {
    let loads = 0;
    const MISS_TTL_MS = 3_000;
    const lookup = new DirectoryLookup(
      sql,
      async () => {
        loads++;
        return loadDirectory(sql);
      },
      { missTtlMs: MISS_TTL_MS },
    );
    // A click ID of a link deleted since (sealed by our key, unknown to the database).
    const [gone] =
      await sql`insert into links (code, offer_id, affiliate_id) select 'GONE', offer_id, affiliate_id from links where id = ${ids.link} returning id`;
    await sql`delete from links where id = ${gone?.id}`;
    const withLookup: IntakeDeps = { ...deps, lookup };
    const event = (code: string, txid: string) =>
      receive(withLookup, {
        channel: s2s(),
        raw: { click_id: codec.mint(ids.link), txid, event: code, token: TOKEN },
      });
    for (let i = 0; i < 20; i++) {
      expect(await event("withdrawal", `UNK-${i}`)).toMatchObject({ status: 422, reason: "unknown_event" });
      const old = await receive(withLookup, {
        channel: s2s(),
        raw: { click_id: codec.mint(Number(gone?.id)), txid: `OLD-${i}`, event: "ftd", token: TOKEN },
      });
      expect(old).toMatchObject({ status: 422, reason: "click_id_unknown_link" });
    }
    expect(loads).toBe(0);
    // Remembered, not asked again: an event added behind the directory's back stays unknown
    // until the miss expires (an admin change reloads the directory itself, well before that).
    const started = Date.now();
    expect(await event("bonus", "BONUS-1")).toMatchObject({ status: 422, reason: "unknown_event" });
    await sql`insert into offer_events (offer_id, code) values (${ids.offer}, 'bonus')`;
    const cached = await event("bonus", "BONUS-2");
    if (Date.now() - started < MISS_TTL_MS)
      expect(cached).toMatchObject({ status: 422, reason: "unknown_event" });
    await Bun.sleep(Math.max(0, started + MISS_TTL_MS + 100 - Date.now()));
    expect(await event("bonus", "BONUS-3")).toMatchObject({ status: 200, outcome: "accepted" });
    expect(loads).toBe(1);
  });
});

describe("intake: click IDs", () => {
  test("missing, unreplaced macro, forged and mangled click IDs are refused before anything is stored", async () => {
    const before = await sql`select count(*)::int as n from postback_receipts`;
    const missing = await post({ event: "ftd", token: TOKEN });
    expect(missing).toMatchObject({ status: 400, reason: "missing_click_id" });
    const macro = await post({ clickid: "{clickid}", event: "ftd", token: TOKEN });
    expect(macro).toMatchObject({ status: 400, reason: "unreplaced_macro" });
    expect(String((macro.body.error as { message: string }).message)).toContain("{clickid}");
    const good = codec.mint(ids.link);
    const forged = await post({
      click_id: `${good.slice(0, -3)}${good.endsWith("AAA") ? "BBB" : "AAA"}`,
      event: "ftd",
      token: TOKEN,
    });
    expect(forged).toMatchObject({ status: 422, outcome: "unknown_click", reason: "click_id_bad_signature" });
    const otherKey = ClickIdCodec.fromSpec(`zz:${"z".repeat(40)}`).mint(ids.link);
    expect((await post({ click_id: otherKey, event: "ftd", token: TOKEN })).status).toBe(422);
    expect((await post({ click_id: "short", event: "ftd", token: TOKEN })).reason).toBe("click_id_malformed");
    const after = await sql`select count(*)::int as n from postback_receipts`;
    expect(after[0]?.n).toBe(before[0]?.n);
    expect(await logOf(forged)).toMatchObject({
      outcome: "unknown_click",
      reason: "click_id_bad_signature",
      http_status: 422,
    });
  });

  test("an advertiser's own alias for the click ID is found before the advertiser is known", async () => {
    const d = await post({
      aff_click: codec.mint(ids.link),
      event: "ftd",
      txid: "T-alias",
      secret_code: TOKEN,
    });
    expect(d.status).toBe(200);
    const [logged] = await sql`select params from postback_log where receipt_id = ${d.receiptId}`;
    expect(logged?.params.secret_code).toBe("***");
  });
});

describe("intake: authentication per advertiser", () => {
  test("token: missing and wrong answer 401 and are logged", async () => {
    const clickId = codec.mint(ids.link);
    const missing = await post({ click_id: clickId, event: "ftd" });
    expect(missing).toMatchObject({ status: 401, outcome: "unauthorized", reason: "missing_token" });
    const wrong = await post({ click_id: clickId, event: "ftd", token: "guess" });
    expect(wrong).toMatchObject({ status: 401, reason: "bad_token" });
    expect(await logOf(wrong)).toMatchObject({
      outcome: "unauthorized",
      reason: "bad_token",
      params: { token: "***" },
      advertiser_id: ids.adv,
    });
  });

  test("signature: required when configured; old, forged, tampered and replayed signatures answer 401", async () => {
    await configure({ token_hash: null }, [SECRET]);
    try {
      const clickId = codec.mint(ids.link);
      const target = `/postback?click_id=${clickId}&event=ftd&txid=T-sig`;
      const raw = { click_id: clickId, event: "ftd", txid: "T-sig" };
      const signed = (header: string | null, t = target) =>
        s2s({ signed: { header, method: "GET", target: t, body: "" } });

      expect((await post(raw, signed(null))).reason).toBe("signature_missing");
      const old = signPostback(SECRET, {
        method: "GET",
        target,
        timestamp: Math.floor(Date.now() / 1000) - 600,
      });
      expect((await post(raw, signed(old))).reason).toBe("signature_expired");
      const forged = signPostback("f".repeat(40), { method: "GET", target });
      expect((await post(raw, signed(forged))).reason).toBe("signature_invalid");
      const good = signPostback(SECRET, { method: "GET", target });
      expect((await post(raw, signed(good, `${target}&amount=999`))).reason).toBe("signature_invalid");

      const accepted = await post(raw, signed(good));
      expect(accepted).toMatchObject({ status: 200, outcome: "accepted" });
      const replay = await post(raw, signed(good));
      expect(replay).toMatchObject({ status: 401, outcome: "unauthorized", reason: "signature_replayed" });
      // A fresh signature on a retry is fine, and the retry is a duplicate. (Its timestamp must
      // differ from the first one's, which a second boundary would not guarantee at now − 1.)
      const resigned = signPostback(SECRET, {
        method: "GET",
        target,
        timestamp: Math.floor(Date.now() / 1000) - 30,
      });
      expect(await post(raw, signed(resigned))).toMatchObject({ status: 200, duplicate: true });

      // Replays fired at once: exactly one gets through, across any number of replicas.
      const raw2 = { ...raw, txid: "T-sig-2" };
      const target2 = `/postback?click_id=${clickId}&event=ftd&txid=T-sig-2`;
      const header2 = signPostback(SECRET, { method: "GET", target: target2 });
      const burst = await Promise.all(Array.from({ length: 10 }, () => post(raw2, signed(header2, target2))));
      expect(burst.filter((d) => d.status === 200)).toHaveLength(1);
      expect(burst.filter((d) => d.reason === "signature_replayed")).toHaveLength(9);
      const [stored] =
        await sql`select expires_at > now() as live from postback_signatures where advertiser_id = ${ids.adv} limit 1`;
      expect(stored?.live).toBe(true);
    } finally {
      await configure({ token_hash: sha256(TOKEN) });
    }
  });

  test("IP allowlist: CIDR v4 and v6; outside answers 403", async () => {
    await configure({ ip_allowlist: ["198.51.100.0/24", "2001:db8::/32"] });
    try {
      const raw = () => ({ click_id: codec.mint(ids.link), event: "ftd", token: TOKEN });
      expect((await post(raw(), s2s({ ip: "198.51.100.20" }))).status).toBe(200);
      expect((await post(raw(), s2s({ ip: "::ffff:198.51.100.21" }))).status).toBe(200);
      expect((await post(raw(), s2s({ ip: "2001:db8:1::5" }))).status).toBe(200);
      const outside = await post(raw(), s2s({ ip: "203.0.113.9" }));
      expect(outside).toMatchObject({ status: 403, outcome: "forbidden", reason: "ip_not_allowed" });
      expect((await post(raw(), s2s({ ip: null }))).status).toBe(403);
    } finally {
      await configure({ ip_allowlist: [] });
    }
  });

  test("all three at once: each must pass", async () => {
    await configure({ ip_allowlist: ["198.51.100.0/24"] }, [SECRET]);
    try {
      const clickId = codec.mint(ids.link);
      const target = `/postback?click_id=${clickId}&event=ftd`;
      const ch = (ip: string, header: string | null) =>
        s2s({ ip, signed: { header, method: "GET", target, body: "" } });
      const raw = { click_id: clickId, event: "ftd", token: TOKEN };
      const sign = () => signPostback(SECRET, { method: "GET", target });
      expect((await post(raw, ch("203.0.113.1", sign()))).reason).toBe("ip_not_allowed");
      expect((await post(raw, ch("198.51.100.1", null))).reason).toBe("signature_missing");
      expect((await post({ ...raw, token: "nope" }, ch("198.51.100.1", sign()))).reason).toBe("bad_token");
      expect((await post(raw, ch("198.51.100.1", sign()))).status).toBe(200);
    } finally {
      await configure({ ip_allowlist: [] });
    }
  });

  test("a paused advertiser answers 403; a rate-limited one 429 with Retry-After, both logged", async () => {
    await configure({ status: "paused" });
    const paused = await post({ click_id: codec.mint(ids.link), event: "ftd", token: TOKEN });
    expect(paused).toMatchObject({ status: 403, reason: "advertiser_paused" });
    await configure({ status: "active" });
    admission = { ok: false, retryAfterS: 3 };
    const limited = await post({ click_id: codec.mint(ids.link), event: "ftd", token: TOKEN });
    expect(limited).toMatchObject({ status: 429, outcome: "rate_limited", retryAfterS: 3 });
    expect(await logOf(limited)).toMatchObject({ http_status: 429, advertiser_id: ids.adv });
  });
});

describe("intake: brands", () => {
  test("one endpoint with brand=, or one per brand; a mismatch or an unknown brand is refused", async () => {
    const clickId = codec.mint(ids.link);
    expect((await post({ click_id: clickId, event: "ftd", brand: "casino", token: TOKEN })).status).toBe(200);
    expect(await post({ click_id: clickId, event: "ftd", brand: "sports", token: TOKEN })).toMatchObject({
      status: 422,
      reason: "brand_mismatch",
    });
    expect(
      (await post({ click_id: clickId, event: "ftd", txid: "T-b", token: TOKEN }, s2s(), "casino")).status,
    ).toBe(200);
    expect((await post({ click_id: clickId, event: "ftd", token: TOKEN }, s2s(), "sports")).reason).toBe(
      "brand_mismatch",
    );
    expect((await post({ click_id: clickId, event: "ftd", token: TOKEN }, s2s(), "nope")).status).toBe(404);
    expect(
      (await post({ click_id: clickId, event: "ftd", brand: "sports", token: TOKEN }, s2s(), "casino"))
        .status,
    ).toBe(400);
    // The second brand's advertiser has no checks configured; its own brand is on its records.
    const other = await post({ click_id: codec.mint(ids.link2), event: "ftd" }, s2s(), "sports");
    expect(other).toMatchObject({ status: 200, brandId: ids.brand2, advertiserId: ids.adv2 });
  });
});

describe("intake: pixel and import channels", () => {
  const pixel = (cookie: string | null): Channel => ({
    kind: "pixel",
    method: "GET",
    ip: "203.0.113.99",
    cookieClickId: cookie,
  });

  test("pixels need the advertiser's opt-in, take the click ID from the cookie, and never set payout or status", async () => {
    const clickId = codec.mint(ids.link);
    expect(await post({ event: "ftd" }, pixel(clickId))).toMatchObject({
      status: 403,
      reason: "pixel_disabled",
    });
    await configure({ pixel_enabled: true });
    try {
      const d = await post(
        { event: "ftd", txid: "T-px", payout: "999", status: "approved", amount: "10" },
        pixel(clickId),
      );
      expect(d).toMatchObject({ status: 200, outcome: "accepted" });
      const [r] =
        await sql`select source, click_id, payout, status, amount::text from postback_receipts where id = ${d.receiptId}`;
      expect(r).toEqual({
        source: "pixel",
        click_id: clickId,
        payout: null,
        status: null,
        amount: "10.000000",
      });
      // The S2S report of the same transaction is its own receipt: attribution books it once.
      const s = await post({ click_id: clickId, event: "ftd", txid: "T-px", token: TOKEN });
      expect(s).toMatchObject({ status: 200, duplicate: false });
      expect(await post({ event: "ftd" }, pixel(null))).toMatchObject({
        status: 400,
        reason: "missing_click_id",
      });
      expect(await post({ event: "ftd" }, pixel("garbage-cookie"))).toMatchObject({ status: 422 });
    } finally {
      await configure({ pixel_enabled: false });
    }
  });

  test("pixel IPs are truncated in the log when configured", async () => {
    await configure({ pixel_enabled: true });
    try {
      const d = await receive(
        { ...deps, ipMode: "last-octet" },
        { channel: pixel(codec.mint(ids.link)), raw: { event: "registration" } },
      );
      const [row] = await sql`select ip from postback_log where receipt_id = ${d.receiptId}`;
      expect(row?.ip).toBe("203.0.113.0");
    } finally {
      await configure({ pixel_enabled: false });
    }
  });

  test("an import row skips the advertiser's request checks but not validation or dedup", async () => {
    const [imp] = await sql`insert into imports (actor) values ('test') returning id`;
    const ch = (row: number, advertiserId: string | null = ids.adv): Channel => ({
      kind: "import",
      importId: imp?.id,
      row,
      advertiserId,
    });
    const clickId = codec.mint(ids.link);
    const first = await post({ click_id: clickId, event: "ftd", txid: "T-imp" }, ch(1));
    expect(first).toMatchObject({ status: 200, outcome: "accepted" });
    expect((await post({ click_id: clickId, event: "ftd", txid: "T-imp" }, ch(2))).duplicate).toBe(true);
    expect((await post({ click_id: codec.mint(ids.link2), event: "ftd" }, ch(3))).reason).toBe(
      "advertiser_mismatch",
    );
    const rows =
      await sql`select import_row, outcome, method, source from postback_log where import_id = ${imp?.id} order by import_row`;
    expect(rows.map((r) => [r.import_row, r.outcome, r.method, r.source])).toEqual([
      [1, "accepted", "CSV", "import"],
      [2, "duplicate", "CSV", "import"],
      [3, "unknown_click", "CSV", "import"],
    ]);
  });
});

describe("group commit of receipts", () => {
  const row = (over: Partial<ReceiptRow>): ReceiptRow => ({
    advertiser_id: ids.adv,
    brand_id: ids.brand,
    dedup_key: `k-${crypto.randomUUID()}`,
    source: "s2s",
    click_id: codec.mint(ids.link),
    txid: null,
    ref_txid: null,
    event: "ftd",
    status: null,
    amount: null,
    payout: null,
    currency: null,
    occurred_at: null,
    received_at: new Date().toISOString(),
    sig: null,
    sig_expires: null,
    log: {
      advertiser_id: ids.adv,
      brand_id: ids.brand,
      source: "s2s",
      method: "GET",
      params: {},
      ip: null,
      outcome: "accepted",
      reason: null,
      http_status: 200,
      receipt_id: null,
      import_id: null,
      import_row: null,
    },
    ...over,
  });

  test("one batch: repeats of a key are duplicates of its first, a signature twice is a replay, each request logged", async () => {
    const expires = new Date(Date.now() + 300_000).toISOString();
    const rows = [
      row({ dedup_key: "batch-a" }),
      row({ dedup_key: "batch-a" }),
      row({ dedup_key: "batch-b", sig: "f".repeat(64), sig_expires: expires }),
      row({ dedup_key: "batch-c", sig: "f".repeat(64), sig_expires: expires }),
      row({ dedup_key: "batch-a" }),
    ];
    const out = await writeReceipts(sql, rows);
    const [a, a2, b, c, a3] = out as [Written, Written, Written, Written, Written];
    expect(a).toMatchObject({ duplicate: false });
    expect(a2).toEqual({ receiptId: (a as { receiptId: string }).receiptId, duplicate: true });
    expect(a3).toEqual(a2);
    expect(b).toMatchObject({ duplicate: false });
    expect(c).toBe("replayed");
    const [r] = await sql`select duplicates from postback_receipts where dedup_key = 'batch-a'`;
    expect(r?.duplicates).toBe(2);
    const logged =
      await sql`select outcome from postback_log where receipt_id = ${(a as { receiptId: string }).receiptId} order by id`;
    expect(logged.map((l) => l.outcome)).toEqual(["accepted", "duplicate", "duplicate"]);
    // The same key in a later batch is a duplicate too.
    expect((await writeReceipts(sql, [row({ dedup_key: "batch-a" })]))[0]).toMatchObject({ duplicate: true });
  });

  test("request log: a row PostgreSQL refuses fails alone, not the requests that shared its insert", async () => {
    const log = new RequestLog(sql);
    const row = (params: Record<string, unknown>) => ({
      advertiser_id: null,
      brand_id: null,
      source: "s2s",
      method: "GET",
      params,
      ip: null,
      outcome: "invalid",
      reason: "rl_isolation",
      http_status: 400,
      receipt_id: null,
      import_id: null,
      import_row: null,
    });
    const results = await Promise.allSettled([
      log.write(row({ n: "1" })),
      log.write(row({ n: "2\u0000" })), // jsonb cannot hold it: only escaped params reach here in intake
      log.write(row({ n: "3" })),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const stored =
      await sql`select params->>'n' as n from postback_log where reason = 'rl_isolation' order by n`;
    expect(stored.map((r) => r.n)).toEqual(["1", "3"]);
  });

  test("a batch with a row the database refuses: the others are written, that one fails alone", async () => {
    const writer = new ReceiptWriter(sql);
    const results = await Promise.allSettled([
      writer.write(row({ dedup_key: "fb-1" })),
      writer.write(row({ dedup_key: "fb-2", brand_id: "999999" })), // no such brand: foreign key
      writer.write(row({ dedup_key: "fb-3" })),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const stored =
      await sql`select dedup_key from postback_receipts where dedup_key like 'fb-%' order by dedup_key`;
    expect(stored.map((r) => r.dedup_key)).toEqual(["fb-1", "fb-3"]);
  });
});

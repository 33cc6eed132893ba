import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import net from "node:net";
import { createSql, createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { createLogger, createRegistry, type Registry, startTracing } from "@roundtrip/telemetry";
import { Webhook } from "standardwebhooks";
import { endpointKey } from "./endpoints.ts";
import { LEASE_MARGIN_MS, type SenderOptions, startSender } from "./sender.ts";
import { newSecret, parseCidrs } from "@roundtrip/outbound";

let db: TestDatabase;
let sql: Sql;
const running: { stop(): Promise<void> }[] = [];
const servers: { stop(): void }[] = [];

beforeAll(async () => {
  startTracing("delivery-test", {}); // W3C propagation, no export
  db = await createTestDatabase("delivery");
  sql = db.sql;
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
  for (const s of servers.splice(0)) s.stop();
});
afterAll(async () => {
  await db?.drop();
});

let registry: Registry;
function sender(over: Partial<SenderOptions> = {}) {
  registry = createRegistry("delivery");
  const s = startSender(sql, {
    logger: createLogger("delivery-test", "error"),
    registry,
    batch: 20,
    leaseMs: 10_000,
    pollMs: 50,
    concurrency: 16,
    schedule: [0, 0.1, 0.1, 0.1],
    http: { connectTimeoutMs: 500, totalTimeoutMs: 1_000, excerptBytes: 500 },
    endpoint: { concurrency: 4, ratePerSecond: 1_000, breakerFailures: 100, halfOpenAfterMs: 60_000 },
    allowed: parseCidrs("127.0.0.0/8"),
    disableAfterMs: 3 * 86_400_000,
    ...over,
  });
  running.push(s);
  return s;
}

type Received = { method: string; url: URL; headers: Headers; body: string; at: number };

/** A real local HTTP server standing in for an affiliate endpoint. */
function endpoint(
  respond: (req: Request, n: number) => Response | Promise<Response> = () => new Response("ok"),
) {
  const received: Received[] = [];
  let inflight = 0;
  let maxInflight = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 30,
    async fetch(req) {
      inflight++;
      maxInflight = Math.max(maxInflight, inflight);
      try {
        received.push({
          method: req.method,
          url: new URL(req.url),
          headers: req.headers,
          body: await req.text(),
          at: Date.now(),
        });
        return await respond(req, received.length);
      } finally {
        inflight--;
      }
    },
  });
  servers.push({ stop: () => server.stop(true) });
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port,
    received,
    maxInflight: () => maxInflight,
  };
}

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function affiliate(): Promise<string> {
  const [a] = await sql`insert into affiliates (name) values ('Affiliate') returning id`;
  return a?.id;
}

async function template(affiliateId: string, url: string, method = "GET"): Promise<string> {
  const [t] = await sql`
    insert into affiliate_postbacks (affiliate_id, method, url_template) values (${affiliateId}, ${method}, ${url}) returning id`;
  return t?.id;
}

let conversions = 0;
async function delivery(
  templateId: string,
  affiliateId: string,
  url: string,
  over: { method?: string; body?: string; contentType?: string } = {},
): Promise<string> {
  const [d] = await sql`
    insert into deliveries (conversion_id, change_seq, template_id, affiliate_id, method, url, body, content_type)
    values (${++conversions}, 1, ${templateId}, ${affiliateId}, ${over.method ?? "GET"}, ${url}, ${over.body ?? null},
            ${over.contentType ?? null})
    returning id`;
  await sql`select pg_notify('roundtrip_deliveries', '')`;
  return d?.id;
}

async function until<T>(
  check: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    await Bun.sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const status = async (id: string) =>
  (await sql`select status from deliveries where id = ${id}`)[0]?.status as string;
const settled = (id: string, want: string) =>
  until(async () => (await status(id)) === want, `delivery ${id} ${want}`);
const attempts = (id: string) =>
  sql`select * from delivery_attempts where delivery_id = ${id} order by attempt`;

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return m
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((s, v) => s + v.value, 0);
}

/** Standard Webhooks verification written from the spec, independent of the library that signs. */
function verifySpec(secret: string, headers: Headers, payload: string): boolean {
  const id = headers.get("webhook-id");
  const ts = headers.get("webhook-timestamp");
  const signatures = (headers.get("webhook-signature") ?? "").split(" ");
  if (!id || !ts || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${ts}.${payload}`).digest();
  return signatures.some((s) => {
    const [version, sig] = s.split(",");
    const given = Buffer.from(sig ?? "", "base64");
    return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

describe("sending with retries", () => {
  test("500 then 200: delivered once, both attempts logged, same webhook-id", async () => {
    const ep = endpoint((_, n) => new Response(n === 1 ? "oops" : "ok", { status: n === 1 ? 500 : 200 }));
    const a = await affiliate();
    const url = `${ep.url}/pb?cid=abc&token=s3cret`;
    const id = await delivery(await template(a, url), a, url);
    sender();
    await settled(id, "delivered");
    expect(ep.received).toHaveLength(2);
    expect(ep.received.map((r) => r.headers.get("webhook-id"))).toEqual([`dlv_${id}`, `dlv_${id}`]);
    const log = await attempts(id);
    expect(log.map((r) => [r.attempt, r.status_code, r.outcome])).toEqual([
      [1, 500, "retry"],
      [2, 200, "delivered"],
    ]);
    // the attempt log masks secrets in the URL and keeps an excerpt of the answer
    expect(log[0]?.url).toBe(`${ep.url}/pb?cid=abc&token=***`);
    expect(log[0]?.response_excerpt).toBe("oops");
    expect(log[0]?.latency_ms).toBeGreaterThanOrEqual(0);
    expect(log[0]?.remote_address).toBe("127.0.0.1");
    expect(await metric("roundtrip_deliveries_total", { outcome: "retry" })).toBe(1);
    expect(await metric("roundtrip_deliveries_total", { outcome: "delivered" })).toBe(1);
  });

  test("an endpoint that is down: retried on the schedule, then dead-lettered; a replay delivers it", async () => {
    const port = await freePort();
    const a = await affiliate();
    const url = `http://127.0.0.1:${port}/pb`;
    const id = await delivery(await template(a, url), a, url);
    sender({ schedule: [0, 0.05, 0.05] });
    await settled(id, "dead");
    const log = await attempts(id);
    expect(log.map((r) => r.outcome)).toEqual(["retry", "retry", "dead_lettered"]);
    expect(log[0]?.error).toContain("ECONNREFUSED");
    expect(log.every((r) => r.status_code === null)).toBe(true);

    // The endpoint comes back; an operator replays the dead letter (what admin's replay does).
    const received: string[] = [];
    const server = Bun.serve({
      port,
      hostname: "127.0.0.1",
      fetch: (req) => {
        received.push(req.headers.get("webhook-id") ?? "");
        return new Response("ok");
      },
    });
    servers.push({ stop: () => server.stop(true) });
    await sql`update deliveries set status = 'pending', cycle_attempts = 0, next_attempt_at = now(), replays = replays + 1 where id = ${id}`;
    await sql`select pg_notify('roundtrip_deliveries', '')`;
    await settled(id, "delivered");
    expect(received).toEqual([`dlv_${id}`]);
    expect((await attempts(id)).map((r) => r.attempt)).toEqual([1, 2, 3, 4]);
  });

  test("an endpoint that hangs: the total timeout ends the attempt, which is retried", async () => {
    const ep = endpoint(async (_, n) => {
      if (n === 1) await Bun.sleep(3_000);
      return new Response("ok");
    });
    const a = await affiliate();
    const id = await delivery(await template(a, ep.url), a, `${ep.url}/pb`);
    sender();
    await settled(id, "delivered");
    const log = await attempts(id);
    expect(log.map((r) => r.outcome)).toEqual(["retry", "delivered"]);
    expect(log[0]?.error).toBe("no complete answer within 1000 ms");
  });

  test("a connection that never completes its handshake: the connect timeout ends it", async () => {
    const silent = net.createServer(() => {}).listen(0, "127.0.0.1");
    await new Promise((r) => silent.once("listening", r));
    servers.push({ stop: () => silent.close() });
    const url = `https://127.0.0.1:${(silent.address() as net.AddressInfo).port}/pb`;
    const a = await affiliate();
    const id = await delivery(await template(a, url), a, url);
    sender({ schedule: [0], http: { connectTimeoutMs: 300, totalTimeoutMs: 5_000, excerptBytes: 500 } });
    await settled(id, "dead");
    expect((await attempts(id))[0]?.error).toBe("no connection within 300 ms");
  });

  test("429 with Retry-After: the next attempt waits at least that long", async () => {
    const ep = endpoint((_, n) =>
      n === 1
        ? new Response("slow down", { status: 429, headers: { "retry-after": "1" } })
        : new Response("ok"),
    );
    const a = await affiliate();
    const id = await delivery(await template(a, ep.url), a, `${ep.url}/pb`);
    sender();
    await settled(id, "delivered");
    const [first, second] = (await attempts(id)) as unknown as [{ started_at: Date }, { started_at: Date }];
    expect(first).toMatchObject({ status_code: 429, retry_after_s: 1, outcome: "retry" });
    expect(second.started_at.getTime() - first.started_at.getTime()).toBeGreaterThanOrEqual(1_000);
  });

  test("410 Gone: failed, the endpoint is disabled and reported, its other deliveries dead-lettered", async () => {
    const ep = endpoint(() => new Response("gone", { status: 410 }));
    const a = await affiliate();
    const t = await template(a, ep.url);
    const id = await delivery(t, a, `${ep.url}/pb`);
    sender();
    await settled(id, "failed");
    // queued after the first answer: dead-lettered without a request
    const later = await delivery(t, a, `${ep.url}/pb2`);
    await settled(later, "dead");
    expect(ep.received).toHaveLength(1);
    const [tpl] = await sql`select status, disabled_reason from affiliate_postbacks where id = ${t}`;
    expect(tpl).toEqual({ status: "disabled", disabled_reason: "gone" });
    const [audit] =
      await sql`select actor, action, after from audit_log where resource = 'affiliate-postbacks' and resource_id = ${t}`;
    expect(audit).toMatchObject({
      actor: "service:delivery",
      action: "disable",
      after: { disabled_reason: "gone" },
    });
    expect(await metric("roundtrip_delivery_endpoints_disabled_total", { reason: "gone" })).toBe(1);
  });

  test("a redirect is not followed: the delivery fails and the target never hears of it", async () => {
    const target = endpoint();
    const ep = endpoint(
      () => new Response(null, { status: 302, headers: { location: `${target.url}/elsewhere?token=x` } }),
    );
    const a = await affiliate();
    const id = await delivery(await template(a, ep.url), a, `${ep.url}/pb`);
    sender();
    await settled(id, "failed");
    expect(target.received).toHaveLength(0);
    expect((await attempts(id))[0]).toMatchObject({
      status_code: 302,
      outcome: "failed",
      error: `redirect to ${target.url}/elsewhere?token=*** not followed`,
    });
  });

  test("an endpoint failing for days is disabled and reported", async () => {
    const ep = endpoint(() => new Response("down", { status: 503 }));
    const a = await affiliate();
    const t = await template(a, ep.url);
    await sql`update affiliate_postbacks set failing_since = now() - interval '4 days' where id = ${t}`;
    const id = await delivery(t, a, `${ep.url}/pb`);
    const other = await delivery(t, a, `${ep.url}/pb2`);
    sender({ concurrency: 1, batch: 1 });
    await until(
      async () =>
        (await sql`select status from affiliate_postbacks where id = ${t}`)[0]?.status === "disabled",
      "disabled",
    );
    const [tpl] = await sql`select disabled_reason from affiliate_postbacks where id = ${t}`;
    expect(tpl?.disabled_reason).toBe("failing");
    expect(await status(id)).toBe("dead");
    expect(await status(other)).toBe("dead");
    const [audit] = await sql`select after from audit_log where resource_id = ${t} and action = 'disable'`;
    expect(audit?.after).toMatchObject({
      disabled_reason: "failing",
      detail: "no successful delivery for 96 h",
    });
  });
});

describe("tracing", () => {
  test("the request continues the trace the delivery was planned in", async () => {
    const ep = endpoint();
    const a = await affiliate();
    const id = await delivery(await template(a, ep.url), a, `${ep.url}/pb`);
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    await sql`update deliveries set trace_context = ${sql.json({ traceparent: `00-${traceId}-00f067aa0ba902b7-01` })} where id = ${id}`;
    sender();
    await settled(id, "delivered");
    expect(ep.received[0]?.headers.get("traceparent")).toStartWith(`00-${traceId}-`);
  });
});

describe("the SSRF guard in the sender", () => {
  test("without an allowlist a loopback endpoint is refused and never contacted", async () => {
    const ep = endpoint();
    const a = await affiliate();
    const id = await delivery(await template(a, ep.url), a, `${ep.url}/pb`);
    sender({ allowed: [] });
    await settled(id, "failed");
    expect(ep.received).toHaveLength(0);
    expect((await attempts(id))[0]?.error).toBe(
      "refused to connect to 127.0.0.1: 127.0.0.1 is loopback (ipv4)",
    );
  });

  test("the connection goes to the checked address, whatever the name would resolve to later", async () => {
    const ep = endpoint();
    const a = await affiliate();
    // not resolvable by DNS at all: only the guard's answer is used
    const url = `http://affiliate.invalid:${ep.port}/pb`;
    const id = await delivery(await template(a, url), a, url);
    sender({ resolver: async () => [{ address: "127.0.0.1", family: 4 }] });
    await settled(id, "delivered");
    expect(ep.received[0]?.headers.get("host")).toBe(`affiliate.invalid:${ep.port}`);
  });
});

describe("signatures (Standard Webhooks)", () => {
  test("GET: every active secret signs the request target; an independent verifier accepts each", async () => {
    const ep = endpoint();
    const a = await affiliate();
    const [current, rotating, expired] = [newSecret(), newSecret(), newSecret()];
    await sql`
      insert into affiliate_webhook_secrets (affiliate_id, secret, hint, expires_at) values
        (${a}, ${rotating}, 'r', now() + interval '1 day'),
        (${a}, ${expired}, 'e', now() - interval '1 minute'),
        (${a}, ${current}, 'c', null)`;
    const url = `${ep.url}/pb?cid=a%20b&pay=25.00`;
    const id = await delivery(await template(a, url), a, url);
    sender();
    await settled(id, "delivered");
    const req = ep.received[0] as Received;
    const payload = "/pb?cid=a%20b&pay=25.00";
    expect(req.headers.get("webhook-signature")?.split(" ")).toHaveLength(2);
    expect(verifySpec(current, req.headers, payload)).toBe(true);
    expect(verifySpec(rotating, req.headers, payload)).toBe(true);
    expect(verifySpec(expired, req.headers, payload)).toBe(false);
    expect(verifySpec(current, req.headers, "/pb?cid=a%20b&pay=99.00")).toBe(false);
    // and the reference implementation agrees
    expect(() =>
      new Webhook(current).verify(payload, Object.fromEntries(req.headers), { jsonParse: false }),
    ).not.toThrow();
  });

  test("POST: the body is signed and sent with its content type", async () => {
    const ep = endpoint();
    const a = await affiliate();
    const secret = newSecret();
    await sql`insert into affiliate_webhook_secrets (affiliate_id, secret, hint) values (${a}, ${secret}, 'h')`;
    const body = JSON.stringify({ type: "conversion.approved", data: { payout: "25.00" } });
    const id = await delivery(await template(a, ep.url, "POST"), a, `${ep.url}/hook`, {
      method: "POST",
      body,
      contentType: "application/json",
    });
    sender();
    await settled(id, "delivered");
    const req = ep.received[0] as Received;
    expect(req).toMatchObject({ method: "POST", body });
    expect(req.headers.get("content-type")).toBe("application/json");
    expect(verifySpec(secret, req.headers, body)).toBe(true);
    expect(verifySpec(secret, req.headers, `${body} `)).toBe(false);
  });

  test("without a secret: webhook-id and webhook-timestamp, no signature", async () => {
    const ep = endpoint();
    const a = await affiliate();
    const id = await delivery(await template(a, ep.url), a, `${ep.url}/pb`);
    sender();
    await settled(id, "delivered");
    const h = (ep.received[0] as Received).headers;
    expect(h.get("webhook-id")).toBe(`dlv_${id}`);
    expect(Number(h.get("webhook-timestamp"))).toBeGreaterThan(1_700_000_000);
    expect(h.get("webhook-signature")).toBeNull();
  });
});

describe("one dead affiliate cannot slow the others", () => {
  test("a hanging endpoint holds only its own concurrency; a healthy one is served meanwhile", async () => {
    const hanging = endpoint(async () => {
      await Bun.sleep(5_000);
      return new Response("late");
    });
    const healthy = endpoint();
    const [a, b] = [await affiliate(), await affiliate()];
    const [ta, tb] = [await template(a, hanging.url), await template(b, healthy.url)];
    const stuck = await Promise.all(
      Array.from({ length: 8 }, (_, i) => delivery(ta, a, `${hanging.url}/pb?n=${i}`)),
    );
    const fine = await Promise.all(
      Array.from({ length: 8 }, (_, i) => delivery(tb, b, `${healthy.url}/pb?n=${i}`)),
    );
    sender({
      concurrency: 6,
      http: { connectTimeoutMs: 500, totalTimeoutMs: 4_000, excerptBytes: 500 },
      endpoint: { concurrency: 2, ratePerSecond: 1_000, breakerFailures: 100, halfOpenAfterMs: 60_000 },
    });
    for (const id of fine) await settled(id, "delivered");
    // every healthy postback is through while the hanging endpoint still holds its requests
    expect(hanging.maxInflight()).toBeLessThanOrEqual(2);
    const pending =
      await sql`select count(*)::int as n from deliveries where id in ${sql(stuck)} and status = 'pending'`;
    expect(pending[0]?.n).toBe(8);
    // only what is being sent is claimed (leased, its attempt started): the others wait unleased
    // (one snapshot; a row is leased a moment before its attempt is logged as started)
    const [{ leased, started }] = (await sql`
      select coalesce((select array_agg(id) from deliveries
                       where id in ${sql(stuck)} and next_attempt_at > now() + interval '1 second'), '{}') as leased,
             coalesce((select array_agg(delivery_id) from delivery_attempts
                       where delivery_id in ${sql(stuck)} and outcome = 'started'), '{}') as started`) as unknown as [
      { leased: string[]; started: string[] },
    ];
    expect(leased.length).toBeGreaterThan(0);
    expect(leased.length).toBeLessThanOrEqual(2);
    for (const id of started) expect(leased).toContain(id);
  });

  test("the circuit opens after consecutive failures: no more requests, deliveries wait without using attempts", async () => {
    const ep = endpoint(() => new Response("down", { status: 503 }));
    const a = await affiliate();
    const t = await template(a, ep.url);
    const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => delivery(t, a, `${ep.url}/pb?n=${i}`)));
    const s = sender({
      endpoint: { concurrency: 1, ratePerSecond: 1_000, breakerFailures: 3, halfOpenAfterMs: 60_000 },
    });
    await until(async () => (await s.endpoints.state(`${ep.url}`)) === "open", "the circuit to open");
    await Bun.sleep(500);
    // Three attempts failed (one may fail on the connection before the endpoint sees it), then the
    // circuit stopped sending: the remaining deliveries wait, unclaimed, without an attempt.
    expect(ep.received.length).toBeLessThanOrEqual(3);
    expect(await s.endpoints.state(`${ep.url}`)).toBe("open");
    const [{ n }] =
      (await sql`select sum(attempts)::int as n from deliveries where id in ${sql(ids)}`) as unknown as [
        { n: number },
      ];
    expect(n).toBe(3);
  });

  test("an open circuit lets a probe through after a while; a good answer closes it and the backlog flows", async () => {
    let down = true;
    const ep = endpoint(() => (down ? new Response("down", { status: 503 }) : new Response("ok")));
    const a = await affiliate();
    const t = await template(a, ep.url);
    const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => delivery(t, a, `${ep.url}/pb?n=${i}`)));
    const s = sender({
      schedule: [0, 0.05, 0.05, 0.05, 0.05, 0.05],
      endpoint: { concurrency: 1, ratePerSecond: 1_000, breakerFailures: 3, halfOpenAfterMs: 300 },
    });
    await until(async () => (await s.endpoints.state(`${ep.url}`)) === "open", "the circuit to open");
    down = false;
    for (const id of ids) await settled(id, "delivered");
    expect(await s.endpoints.state(`${ep.url}`)).toBe("closed");
    const ok =
      await sql`select delivery_id from delivery_attempts where delivery_id in ${sql(ids)} and status_code = 200`;
    expect(ok.map((r) => r.delivery_id).sort()).toEqual([...ids].sort());
  });

  test("a rate limit per endpoint spreads the requests, and all of them arrive", async () => {
    const ep = endpoint();
    const a = await affiliate();
    const t = await template(a, ep.url);
    const ids = await Promise.all(Array.from({ length: 9 }, (_, i) => delivery(t, a, `${ep.url}/pb?n=${i}`)));
    sender({ endpoint: { concurrency: 4, ratePerSecond: 3, breakerFailures: 100, halfOpenAfterMs: 60_000 } });
    for (const id of ids) await settled(id, "delivered");
    expect(ep.received).toHaveLength(9);
    // At most three in each one-second window: nine take three windows, so the first and the last
    // are more than a second apart (two windows could be a moment apart across their boundary).
    const times = ep.received.map((r) => r.at).sort((x, y) => x - y);
    expect((times[8] ?? 0) - (times[0] ?? 0)).toBeGreaterThan(1_000);
  });
});

describe("a sender that dies mid-send", () => {
  test("the attempt is logged as started before its request goes out", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const ep = endpoint(async () => {
      await held;
      return new Response("ok");
    });
    const a = await affiliate();
    const url = `${ep.url}/pb?token=s3cret`;
    const id = await delivery(await template(a, url), a, url);
    sender();
    await until(async () => ep.received.length === 1, "the request to arrive");
    const during = await attempts(id);
    expect(during.map((r) => [r.attempt, r.outcome, r.url, r.latency_ms])).toEqual([
      [1, "started", `${ep.url}/pb?token=***`, null],
    ]);
    release();
    await settled(id, "delivered");
    expect((await attempts(id)).map((r) => [r.attempt, r.outcome, r.status_code])).toEqual([
      [1, "delivered", 200],
    ]);
  });

  test("a row whose lease expired is sent again with the same webhook-id, its unfinished attempt marked interrupted", async () => {
    const ep = endpoint();
    const a = await affiliate();
    const url = `${ep.url}/pb`;
    const id = await delivery(await template(a, url), a, url);
    // What a kill -9 leaves: the row claimed once (lease now over), its attempt still `started`.
    await sql`update deliveries set attempts = 1, cycle_attempts = 1, next_attempt_at = now() + interval '1 second' where id = ${id}`;
    await sql`insert into delivery_attempts (delivery_id, attempt, started_at, url, outcome) values (${id}, 1, now(), ${url}, 'started')`;
    sender();
    await settled(id, "delivered");
    expect(ep.received.map((r) => r.headers.get("webhook-id"))).toEqual([`dlv_${id}`]);
    const log = await attempts(id);
    expect(log.map((r) => [r.attempt, r.outcome])).toEqual([
      [1, "interrupted"],
      [2, "delivered"],
    ]);
    expect(log[0]?.error).toContain("lease expired");
  });
});

describe("a sender whose lease ran out", () => {
  test("a result written after the row was claimed again changes nothing; the new claim's result stands", async () => {
    const leaseMs = 1_000 + LEASE_MARGIN_MS;
    // Sender A's own pool, so the test can make its final write late: when A's request arrives,
    // the test takes every connection of that pool until sender B has re-claimed and delivered.
    const poolA = createSql(db.url, { max: 2, application: "delivery-test-a" });
    const held: { release(): void }[] = [];
    const ep = endpoint(async (_req, n) => {
      if (n > 1) return new Response("ok");
      held.push(await poolA.reserve(), await poolA.reserve());
      return new Response("no", { status: 400 }); // A's answer: would fail the delivery
    });
    const a = await affiliate();
    const url = `${ep.url}/pb`;
    const id = await delivery(await template(a, url), a, url);
    const registryA = createRegistry("delivery");
    const senderA = startSender(poolA, {
      logger: createLogger("delivery-test-a", "error"),
      registry: registryA,
      batch: 20,
      leaseMs,
      pollMs: 50,
      concurrency: 4,
      schedule: [0, 0.1],
      http: { connectTimeoutMs: 500, totalTimeoutMs: 1_000, excerptBytes: 500 },
      endpoint: { concurrency: 4, ratePerSecond: 1_000, breakerFailures: 100, halfOpenAfterMs: 60_000 },
      allowed: parseCidrs("127.0.0.0/8"),
      disableAfterMs: 3 * 86_400_000,
    });
    try {
      await until(async () => held.length === 2, "A's request to arrive and its pool to be taken");
      sender({ leaseMs }); // B: claims the row once A's lease has run out
      await settled(id, "delivered");
    } finally {
      for (const c of held) c.release();
      await senderA.stop(); // waits for A's late write
      await poolA.end();
    }
    const [row] = await sql`select status, last_status_code, dead_at from deliveries where id = ${id}`;
    expect(row).toMatchObject({ status: "delivered", last_status_code: 200, dead_at: null });
    expect((await attempts(id)).map((r) => [r.attempt, r.outcome, r.status_code])).toEqual([
      [1, "interrupted", null],
      [2, "delivered", 200],
    ]);
    // At-least-once: the affiliate saw the postback twice, under one webhook-id.
    expect(ep.received.map((r) => r.headers.get("webhook-id"))).toEqual([`dlv_${id}`, `dlv_${id}`]);
    const lost =
      (await registryA.getSingleMetric("roundtrip_delivery_leases_lost_total")?.get())?.values ?? [];
    expect(lost.map((v) => [v.labels.stage, v.value])).toEqual([["record", 1]]);
  }, 30_000);

  test("a lease that does not outlast the request timeout by the margin is refused at start", () => {
    expect(() => sender({ leaseMs: 1_000 + LEASE_MARGIN_MS - 1 })).toThrow(RangeError);
  });
});

describe("endpoint keys", () => {
  test("the deliveries.endpoint column groups URLs exactly as the sender's limits do", async () => {
    const urls = [
      "http://127.0.0.1:8080/pb?x=1",
      "HTTPS://Aff.Example.com/path#frag",
      "https://user:pw@aff.example.com:8443/p",
      "https://aff.example.com?q=1",
      "http://[::1]:9000/x",
      "https://aff.example.com",
      "not a url",
    ];
    const a = await affiliate();
    const t = await template(a, urls[0] as string);
    for (const url of urls) {
      const [row] = await sql`
        insert into deliveries (conversion_id, change_seq, template_id, affiliate_id, method, url, status)
        values (${++conversions}, 1, ${t}, ${a}, 'GET', ${url}, 'failed') returning endpoint`;
      expect([url, row?.endpoint]).toEqual([url, endpointKey(url)]);
    }
    expect(endpointKey("HTTPS://Aff.Example.com/path#frag")).toBe("https://aff.example.com");
    expect(endpointKey("https://user:pw@aff.example.com:8443/p")).toBe("https://aff.example.com:8443");
  });
});

describe("operator webhooks (partner events)", () => {
  async function webhook(url: string): Promise<string> {
    const [w] = await sql`
      insert into operator_webhooks (name, url, events) values ('Finance', ${url}, ${sql.array(["payout.paid"])}) returning id`;
    return w?.id;
  }
  async function webhookDelivery(webhookId: string, url: string, body: string): Promise<string> {
    const [d] = await sql`
      insert into deliveries (event_id, webhook_id, method, url, body, content_type)
      values (${`payout.paid:${crypto.randomUUID()}`}, ${webhookId}, 'POST', ${url}, ${body}, 'application/json')
      returning id`;
    await sql`select pg_notify('roundtrip_deliveries', '')`;
    return d?.id;
  }

  test("signed with the webhook's own secrets, never an affiliate's; a success is recorded on the webhook", async () => {
    const ep = endpoint();
    const w = await webhook(`${ep.url}/ops`);
    const a = await affiliate();
    const mine = newSecret();
    const theirs = newSecret();
    await sql`insert into affiliate_webhook_secrets (webhook_id, secret, hint) values (${w}, ${mine}, 'w')`;
    await sql`insert into affiliate_webhook_secrets (affiliate_id, secret, hint) values (${a}, ${theirs}, 'a')`;
    const body = JSON.stringify({ type: "payout.paid", data: { affiliate_id: a, amount: "10.00" } });
    const id = await webhookDelivery(w, `${ep.url}/ops`, body);
    sender();
    await settled(id, "delivered");
    const got = ep.received[0] as Received;
    expect(got.body).toBe(body);
    expect(got.headers.get("content-type")).toBe("application/json");
    expect(got.headers.get("webhook-id")).toBe(`dlv_${id}`);
    expect(verifySpec(mine, got.headers, body)).toBe(true);
    expect(verifySpec(theirs, got.headers, body)).toBe(false);
    expect(new Webhook(mine).verify(body, Object.fromEntries(got.headers))).toBeTruthy();
    const [row] = await sql`select failing_since, last_success_at from operator_webhooks where id = ${w}`;
    expect(row?.failing_since).toBeNull();
    expect(row?.last_success_at).toBeInstanceOf(Date);
  });

  test("410 Gone disables the webhook (audited as operator-webhooks), its other deliveries dead-lettered", async () => {
    const ep = endpoint(() => new Response("gone", { status: 410 }));
    const w = await webhook(`${ep.url}/gone`);
    const first = await webhookDelivery(w, `${ep.url}/gone`, "{}");
    sender();
    await settled(first, "failed");
    const [row] = await sql`select status, disabled_reason from operator_webhooks where id = ${w}`;
    expect({ ...row }).toEqual({ status: "disabled", disabled_reason: "gone" });
    const [audit] = await sql`
      select actor, resource, after from audit_log where resource = 'operator-webhooks' and resource_id = ${w}`;
    expect(audit).toMatchObject({ actor: "service:delivery", after: { disabled_reason: "gone" } });
    // planned after it was disabled: not sent, waits for a replay
    const later = await webhookDelivery(w, `${ep.url}/gone`, "{}");
    await settled(later, "dead");
    expect(ep.received).toHaveLength(1);
  });
});

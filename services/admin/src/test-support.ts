/**
 * For admin's own tests: admin over a fresh database and a fresh stream namespace on the real
 * broker, composed and served exactly as its entry file does (buildAdmin + serveService, on a free
 * port) or as a separate process, driven over HTTP, with one API key per role.
 */
import { type Bus, connectBus, provision } from "@roundtrip/bus";
import { ClickIdCodec } from "@roundtrip/clickid";
import { createTestDatabase, type Sql } from "@roundtrip/db";
import { startServiceForTest } from "@roundtrip/service";
import { type ServiceHandle, startStack } from "@roundtrip/stack";
import type { Logger } from "@roundtrip/telemetry";
import type { AnyElysia } from "elysia";
import { hashKey, newApiKey } from "./auth.ts";
import { adminEnv, buildAdmin } from "./service.ts";

export const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
export const TEST_CLICK_ID_KEYS = `t1:${"s".repeat(40)}`;

export const quietLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return quietLogger;
  },
};

export type AdminApp = AnyElysia & { drain(): Promise<void> };

export type Answer<T = Record<string, unknown>> = { status: number; body: T; headers: Headers; text: string };

export type Harness = {
  /** The app as the entry builds it (its route table, `drain()`); `call` fetches it over HTTP. */
  // Elysia's full route type of the whole admin is too deep for tsc to compare; tests need these parts.
  app: AdminApp;
  sql: Sql;
  /** Where `call` sends requests: the in-process server, or the real admin process (`process: true`). */
  url: string;
  /** The last lines the admin process wrote (empty in-process). */
  serverLog(): string;
  bus: Bus;
  codec: ClickIdCodec;
  keys: { admin: string; manager: string; analyst: string };
  /** An API key for an affiliate (created on demand). */
  affiliateKey(affiliateId: string): Promise<string>;
  call<T = Record<string, unknown>>(
    method: string,
    path: string,
    key: string | null,
    body?: unknown,
  ): Promise<Answer<T>>;
  /** Like `call` as admin, throwing on a non-2xx answer. */
  ok<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T>;
  cleanup(): Promise<void>;
};

export async function adminHarness(
  label: string,
  options: {
    publicClickUrl?: string;
    publicGatewayUrl?: string;
    /**
     * Serve requests from a separate admin process (`bun services/admin/src/index.ts`) over this
     * database and stream namespace, instead of the in-process server.
     */
    process?: boolean;
    /** More environment for admin (both ways of serving it). */
    env?: Record<string, string>;
  } = {},
): Promise<Harness> {
  const db = await createTestDatabase(label);
  const prefix = `a${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const bus = await connectBus({ url: NATS_URL, prefix, name: `admin-test-${prefix}` });
  await provision(bus);
  const codec = ClickIdCodec.fromSpec(TEST_CLICK_ID_KEYS);
  const admin = `rt_admin_${crypto.randomUUID().replaceAll("-", "")}`;
  const env = {
    ADMIN_BOOTSTRAP_API_KEY: admin,
    CLICK_ID_KEYS: TEST_CLICK_ID_KEYS,
    PUBLIC_CLICK_URL: options.publicClickUrl ?? "http://click.test",
    PUBLIC_GATEWAY_URL: options.publicGatewayUrl ?? "http://gateway.test",
    REPORTS_ENABLED: "false",
    ...options.env,
  };
  // The app exactly as the entry file builds and serves it (buildAdmin, serveService) on a free port.
  const service = await startServiceForTest("admin", adminEnv, buildAdmin, { sql: db.sql, bus, env });
  const app = service.parts.app as unknown as AdminApp;
  const makeKey = async (role: string, affiliateId: string | null = null) => {
    const key = newApiKey();
    await db.sql`insert into api_keys (name, role, affiliate_id, key_hash, key_prefix)
                 values (${`${role} key`}, ${role}, ${affiliateId}, ${hashKey(key)}, ${key.slice(0, 8)})`;
    return key;
  };
  const keys = { admin, manager: await makeKey("manager"), analyst: await makeKey("analyst") };
  const served = options.process
    ? await adminProcess(db.url, prefix, env)
    : { url: service.url, handle: null };

  const call = async <T>(
    method: string,
    path: string,
    key: string | null,
    body?: unknown,
  ): Promise<Answer<T>> => {
    const headers: Record<string, string> = {};
    if (key) headers.authorization = `Bearer ${key}`;
    let payload: BodyInit | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined && method !== "GET" && method !== "HEAD") {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${served.url}${path}`, { method, headers, body: payload, redirect: "manual" });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // CSV, HTML
    }
    return { status: res.status, body: parsed as T, headers: res.headers, text };
  };
  return {
    app,
    sql: db.sql,
    url: served.url,
    serverLog: () => served.handle?.logTail(200) ?? "",
    bus,
    codec,
    keys,
    affiliateKey: (affiliateId) => makeKey("affiliate", affiliateId),
    call,
    async ok<T>(method: string, path: string, body?: unknown) {
      const a = await call<T>(method, path, admin, body);
      if (a.status >= 300) throw new Error(`${method} ${path} → ${a.status} ${a.text}`);
      return a.body;
    },
    async cleanup() {
      if ("stop" in served) await served.stop();
      await service.stop();
      for await (const name of bus.jsm.streams.names())
        if (name.startsWith(`${prefix}_`)) await bus.jsm.streams.delete(name);
      await bus.close();
      await db.drop();
    },
  };
}

/** A brand, an advertiser (token returned), an offer with registration and ftd, an affiliate and a link. */
export async function program(h: Harness, slug = `b${crypto.randomUUID().slice(0, 8)}`) {
  const brand = await h.ok<{ id: string }>("POST", "/v1/brands", {
    slug,
    name: slug,
    currency: "EUR",
    timezone: "Europe/Malta",
  });
  const advertiser = await h.ok<{ id: string; token: string }>("POST", "/v1/advertisers", {
    brand_id: brand.id,
    name: "Casino",
  });
  const offer = await h.ok<{ id: string }>("POST", "/v1/offers", {
    brand_id: brand.id,
    advertiser_id: advertiser.id,
    name: "Welcome",
    destination_url: "https://casino.example/land?cid={click_id}",
    currency: "EUR",
    events: [{ code: "registration" }, { code: "ftd" }],
  });
  const affiliate = await h.ok<{ id: string }>("POST", "/v1/affiliates", { name: "Affiliate" });
  const link = await h.ok<{ id: string; code: string }>("POST", "/v1/links", {
    offer_id: offer.id,
    affiliate_id: affiliate.id,
  });
  return { brand, advertiser, offer, affiliate, link };
}

/** One real admin process on a free port, over the harness's database and stream prefix. */
async function adminProcess(
  databaseUrl: string,
  busPrefix: string,
  env: Record<string, string>,
): Promise<{ url: string; handle: ServiceHandle; stop(): Promise<void> }> {
  const stack = await startStack({
    services: ["admin"],
    databaseUrl,
    natsUrl: NATS_URL,
    busPrefix,
    ports: "free",
    migrate: false,
    provision: false,
    env: {
      ...env,
      LOG_LEVEL: "warn",
      SHUTDOWN_TIMEOUT_MS: "5000",
    },
    stopTimeoutMs: 8_000,
  });
  return { url: stack.urls.admin, handle: stack.services.admin, stop: () => stack.stop() };
}

import { type Bus, connectBus, provision } from "@roundtrip/bus";
import { createTestDatabase, type Sql, type TestDatabase } from "@roundtrip/db";
import { startServiceForTest } from "@roundtrip/service";
import { hashKey } from "../auth.ts";
import { adminEnv, buildAdmin } from "../service.ts";

/**
 * Admin over its own database and stream namespace (real PostgreSQL and NATS), composed and
 * served as its entry file does (buildAdmin + serveService on a free port), for the money and
 * partner modules' tests.
 */
export type TestAdmin = {
  sql: Sql;
  call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    options?: { key?: string; contentType?: string },
  ): Promise<{ status: number; body: T }>;
  /** A GET whose answer is not JSON (a CSV, a PDF, an HTML page): its bytes and as text. */
  text(
    path: string,
    options?: { key?: string },
  ): Promise<{ status: number; text: string; bytes: Uint8Array; type: string | null }>;
  /** A brand, an advertiser, an offer (ftd, deposit) and an affiliate. */
  program(
    currency?: string,
  ): Promise<{ brand: string; advertiser: string; offer: string; affiliate: string }>;
  /** An API key of the affiliate role for this affiliate. */
  affiliateKey(affiliateId: string): Promise<string>;
  close(): Promise<void>;
};

export async function testAdmin(label: string): Promise<TestAdmin> {
  const db: TestDatabase = await createTestDatabase(label);
  const prefix = `adm${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  const bus: Bus = await connectBus({
    url: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
    prefix,
    name: `admin-test-${prefix}`,
  });
  await provision(bus);
  const adminKey = `rt_test_${crypto.randomUUID().replaceAll("-", "")}`;
  const service = await startServiceForTest("admin", adminEnv, buildAdmin, {
    sql: db.sql,
    bus,
    env: {
      ADMIN_BOOTSTRAP_API_KEY: adminKey,
      PUBLIC_CLICK_URL: "http://127.0.0.1:8081",
      PUBLIC_GATEWAY_URL: "http://127.0.0.1:8082",
      REPORTS_ENABLED: "false",
    },
  });
  const call: TestAdmin["call"] = async (method, path, body, options = {}) => {
    const contentType = options.contentType ?? "application/json";
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${options.key ?? adminKey}`,
        ...(body === undefined ? {} : { "content-type": contentType }),
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const ok = async (path: string, body: unknown) => {
    const r = await call<{ id: string }>("POST", path, body);
    if (r.status >= 300) throw new Error(`POST ${path} → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  return {
    sql: db.sql,
    call,
    async text(path, options = {}) {
      const res = await fetch(`${service.url}${path}`, {
        headers: { authorization: `Bearer ${options.key ?? adminKey}` },
      });
      const bytes = new Uint8Array(await res.arrayBuffer());
      return {
        status: res.status,
        text: new TextDecoder().decode(bytes),
        bytes,
        type: res.headers.get("content-type"),
      };
    },
    async program(currency = "EUR") {
      const brand = await ok("/v1/brands", {
        slug: `b${crypto.randomUUID().slice(0, 8)}`,
        name: "Brand",
        currency,
        timezone: "UTC",
      });
      const advertiser = await ok("/v1/advertisers", { brand_id: brand.id, name: "Casino" });
      const offer = await ok("/v1/offers", {
        brand_id: brand.id,
        advertiser_id: advertiser.id,
        name: "Welcome",
        destination_url: "https://casino.example/?cid={click_id}",
        currency,
        events: [{ code: "ftd" }, { code: "deposit" }],
      });
      const affiliate = await ok("/v1/affiliates", { name: "Affiliate", payout_currency: currency });
      return { brand: brand.id, advertiser: advertiser.id, offer: offer.id, affiliate: affiliate.id };
    },
    async affiliateKey(affiliateId) {
      const key = `rt_aff_${crypto.randomUUID().replaceAll("-", "")}`;
      await db.sql`
        insert into api_keys (name, role, affiliate_id, key_hash, key_prefix)
        values ('aff', 'affiliate', ${affiliateId}, ${hashKey(key)}, ${key.slice(0, 8)})`;
      return key;
    },
    async close() {
      await service.stop();
      for await (const name of bus.jsm.streams.names())
        if (name.startsWith(`${prefix}_`)) await bus.jsm.streams.delete(name);
      await bus.close();
      await db.drop();
    },
  };
}

import { type OutboxRelay, startOutboxRelay } from "@roundtrip/bus";
import { proxyTrust, proxyTrustEnv, relayWaker } from "@roundtrip/intake";
import { ClickIdCodec } from "@roundtrip/clickid";
import { CountryLookup } from "@roundtrip/routing";
import { serviceEnv, t } from "@roundtrip/config";
import type { ServiceContext, ServiceParts } from "@roundtrip/service";
import { clickHandler, clickRoutes, createApp } from "./app.ts";
import { ClickWriter } from "./click-writer.ts";
import { linkCache } from "./link-cache.ts";
import { startUnstoredLag, type UnstoredLag } from "./unstored-lag.ts";

export const clickEnv = serviceEnv(8081, {
  CLICK_ID_KEYS: t.String({ minLength: 35 }),
  IP_TRUNCATE: t.Union([t.Literal("none"), t.Literal("last-octet")], { default: "none" }),
  ...proxyTrustEnv,
  // jetstream: a batch is one CLICKS publish (attribution stores the rows); postgres: the click
  // service writes the rows itself. Either way PostgreSQL is the fallback when a publish fails.
  CLICK_SINK: t.Union([t.Literal("jetstream"), t.Literal("postgres")], { default: "jetstream" }),
  // 200 clicks of the largest allowed user agent and referrer stay well under JetStream's 1 MiB.
  CLICK_BATCH_MAX: t.Integer({ minimum: 1, maximum: 5000, default: 200 }),
  // Group commit: a batch is written as soon as none is in flight (measured best: bench/README.md);
  // clicks arriving meanwhile form the next batch. A delay only adds latency at 50 connections.
  CLICK_BATCH_DELAY_MS: t.Integer({ minimum: 0, maximum: 100, default: 0 }),
  CLICK_BATCH_CONCURRENCY: t.Integer({ minimum: 1, maximum: 64, default: 1 }),
  // Clicks waiting for a batch write; a click beyond it is redirected unrecorded and counted
  // (roundtrip_click_queue_shed_total). Bounds memory when both the broker and PostgreSQL lag.
  CLICK_QUEUE_MAX: t.Integer({ minimum: 1, maximum: 1_000_000, default: 20_000 }),
  // A CLICKS publish not acknowledged within this goes to PostgreSQL instead; a healthy broker
  // acknowledges in a few milliseconds, so this only caps what a failing one costs a redirect.
  CLICK_PUBLISH_TIMEOUT_MS: t.Integer({ minimum: 10, maximum: 10_000, default: 250 }),
  // Failed publishes in a row that open the circuit (a dropped connection opens it at once); while
  // open, batches go straight to PostgreSQL and the broker is probed every CLICK_BREAKER_HALF_OPEN_MS.
  CLICK_BREAKER_FAILURES: t.Integer({ minimum: 1, maximum: 100, default: 3 }),
  CLICK_BREAKER_HALF_OPEN_MS: t.Integer({ minimum: 100, maximum: 600_000, default: 5_000 }),
  CLICK_COOKIE_DOMAIN: t.Optional(t.String({ pattern: "^[A-Za-z0-9.-]{1,253}$" })),
  CLICK_COOKIE_SECURE: t.Boolean({ default: false }),
  // A country MMDB for routing and the click's country (docs/routing.md): any with ip-location-db's
  // `country_code` or MaxMind's `country.iso_code` layout; absent, the bundled one.
  GEOIP_COUNTRY_DB: t.Optional(t.String({ minLength: 1 })),
});

const PARTITIONS_EVERY_MS = 3_600_000;

/** Everything the click process runs, from its validated environment and connections. */
export async function buildClick({
  env,
  sql,
  bus,
  logger,
  registry,
}: ServiceContext<typeof clickEnv.static>): Promise<ServiceParts> {
  const codec = ClickIdCodec.fromSpec(env.CLICK_ID_KEYS);
  const links = linkCache(sql, logger);
  // Read into memory now: a missing or unreadable database fails the start, naming the file.
  let geo: CountryLookup;
  try {
    geo = new CountryLookup(env.GEOIP_COUNTRY_DB);
  } catch (err) {
    throw new Error(
      `GEOIP_COUNTRY_DB: cannot read ${env.GEOIP_COUNTRY_DB ?? "the bundled country database"}`,
      {
        cause: err,
      },
    );
  }
  const writer = new ClickWriter(sql, {
    sink: env.CLICK_SINK === "jetstream" ? { bus } : "postgres",
    registry,
    logger,
    onFallback: (err) =>
      logger.warn("CLICKS publish failed; batch written to PostgreSQL", { error: err as Error }),
    maxBatch: env.CLICK_BATCH_MAX,
    maxDelayMs: env.CLICK_BATCH_DELAY_MS,
    maxConcurrentFlushes: env.CLICK_BATCH_CONCURRENCY,
    maxQueue: env.CLICK_QUEUE_MAX,
    publishTimeoutMs: env.CLICK_PUBLISH_TIMEOUT_MS,
    breaker: { failures: env.CLICK_BREAKER_FAILURES, halfOpenAfterMs: env.CLICK_BREAKER_HALF_OPEN_MS },
    onCommitted: relayWaker(() => relay),
  });
  await sql`select ensure_daily_partitions('clicks', 7)`;
  if (env.TRUST_PROXY) logger.warn("TRUST_PROXY is deprecated: it now means TRUSTED_PROXY_HOPS=1");
  let relay: OutboxRelay | undefined;
  // Only the jetstream sink leaves clicks in the stream alone until attribution stores them.
  let unstored: UnstoredLag | undefined;
  const deps = {
    sql,
    links,
    writer,
    codec,
    logger,
    registry,
    ipMode: env.IP_TRUNCATE,
    proxyTrust: proxyTrust(env),
    cookieDomain: env.CLICK_COOKIE_DOMAIN,
    cookieSecure: env.CLICK_COOKIE_SECURE,
    visitorSecret: `visitor:${env.CLICK_ID_KEYS}`,
    geo,
  };
  const handle = clickHandler(deps);
  // A click service that runs for months keeps creating tomorrow's partitions.
  let partitions: ReturnType<typeof setInterval> | undefined;
  return {
    app: createApp(deps, handle),
    routes: clickRoutes(deps, handle),
    // Redirects go on with NATS down (the breaker sends batches to PostgreSQL): an outage is reported, not unready.
    readiness: { nats: "reported" },
    async start() {
      await links.start(bus);
      relay = startOutboxRelay(bus, sql, { registry, streams: ["CLICKS"] });
      if (env.CLICK_SINK === "jetstream") unstored = startUnstoredLag(bus, { registry, logger });
      partitions = setInterval(() => {
        sql`select ensure_daily_partitions('clicks', 7)`.catch((err) =>
          logger.warn("click partition upkeep failed; will retry", { error: err as Error }),
        );
      }, PARTITIONS_EVERY_MS);
    },
    async stop() {
      clearInterval(partitions);
      links.stop();
      unstored?.stop();
      await writer.close();
      await relay?.stop();
    },
  };
}

import {
  type ConsumerName,
  consume,
  declareConsumers,
  handleBatchOnce,
  handleOnce,
  startOutboxRelay,
} from "@roundtrip/bus";
import { ClickIdCodec } from "@roundtrip/clickid";
import { serviceEnv, t } from "@roundtrip/config";
import { ClicksRecorded, CommissionBooked, ConversionChanged } from "@roundtrip/contracts";
import { proxyTrust, proxyTrustEnv } from "@roundtrip/intake";
import { parseCidrs } from "@roundtrip/outbound";
import { type ServiceContext, type ServiceParts, startPeriodic } from "@roundtrip/service";
import { judgeClickBatches } from "@roundtrip/traffic";
import { Value } from "@sinclair/typebox/value";
import { createApp } from "./app.ts";
import { ensureBootstrapKey } from "./auth.ts";
import { ensureBootstrapUser } from "./modules/auth/service.ts";
import { DEFAULT_SIGN_IN_LIMITS } from "./sign-in-limit.ts";
import { markAbandonedRuns } from "./modules/validation-runs/index.ts";
import { dropRawVisitorData } from "./retention.ts";
import { startFolding } from "./reports/fold.ts";
import { foldClicks, foldCommission, foldConversion } from "./reports/rollup.ts";
import { pruneIdempotencyKeys } from "./idempotency.ts";
import type { Logger } from "@roundtrip/telemetry";

/** Expired Idempotency-Keys are forgotten this often. */
const IDEMPOTENCY_PRUNE_MS = 5 * 60_000;

/** Runs `task` every `ms` until stopped; a failure is logged and the next run tries again. */
function every(ms: number, task: () => Promise<unknown>, logger: Logger): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = task().catch((err) => logger.warn("periodic task failed", { error: err as Error }));
  }, ms);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

const Url = (fallback?: string) =>
  fallback === undefined
    ? t.Optional(t.String({ pattern: "^https?://" }))
    : t.String({ pattern: "^https?://", default: fallback });

/**
 * Admin plans every statement for its own parameters. postgres.js prepares each statement, and
 * after five executions PostgreSQL may keep a generic plan that cannot see a search's pattern or
 * how selective a filter's value is: a list searched with `q` then walks the primary key backwards
 * instead of using the trigram index (measured on 1M conversions: 1.2–1.6 s instead of ~30 ms;
 * migration 0760, docs/scaling.md "Search indexes"). Admin's statements are few and varied, so
 * planning each one costs little next to one bad generic plan.
 */
export const ADMIN_POSTGRES_SETTINGS = { plan_cache_mode: "force_custom_plan" };

export const adminEnv = serviceEnv(8080, {
  ADMIN_BOOTSTRAP_API_KEY: t.Optional(t.String({ minLength: 24 })),
  PUBLIC_CLICK_URL: Url("http://127.0.0.1:8081"),
  PUBLIC_GATEWAY_URL: Url("http://127.0.0.1:8082"),
  // Where admin itself reaches click and gateway (launch validation, demo postbacks); default the public URLs.
  CLICK_URL: Url(),
  GATEWAY_URL: Url(),
  // Verifies click IDs in traces and mints the expired test click of a validation run.
  CLICK_ID_KEYS: t.Optional(t.String({ minLength: 35 })),
  // The demo pages (/demo/*: a landing page that fires postbacks, an affiliate receiver) are
  // unauthenticated: mounted only when enabled (`bun run up` enables them), never in production.
  DEMO_ENABLED: t.Boolean({ default: false }),
  // The demo brand's advertiser token, so the demo landing page can fire postbacks server side.
  DEMO_ADVERTISER_TOKEN: t.Optional(t.String({ minLength: 1 })),
  // The report rollup consumers and the postback log fold (one admin replica or all; both are safe).
  REPORTS_ENABLED: t.Boolean({ default: true }),
  REPORTS_FOLD_INTERVAL_MS: t.Integer({ minimum: 1_000, maximum: 3_600_000, default: 60_000 }),
  REPORTS_PIXEL_GAP_SHARE: t.Number({ minimum: 0, maximum: 1, default: 0.05 }),
  // People signing in to the console (docs/console.md, "People and sessions").
  // A first admin user, created at start when no user has this email (its password is not reset later).
  ADMIN_BOOTSTRAP_EMAIL: t.Optional(t.String({ pattern: "^[^\\s@]+@[^\\s@]+$", maxLength: 254 })),
  ADMIN_BOOTSTRAP_PASSWORD: t.Optional(t.String({ minLength: 12, maxLength: 200 })),
  SESSION_IDLE_HOURS: t.Number({ minimum: 0.05, maximum: 720, default: 12 }),
  SESSION_MAX_HOURS: t.Number({ minimum: 0.05, maximum: 8_760, default: 168 }),
  // auto: the cookie is Secure when the request came over https (or X-Forwarded-Proto: https).
  SESSION_COOKIE_SECURE: t.Union([t.Literal("auto"), t.Literal("always"), t.Literal("never")], {
    default: "auto",
  }),
  // Failed sign-ins per email and address in SIGN_IN_WINDOW_MINUTES before a lock of SIGN_IN_LOCK_MINUTES.
  SIGN_IN_MAX_FAILURES: t.Integer({ minimum: 1, maximum: 1_000, default: 5 }),
  SIGN_IN_WINDOW_MINUTES: t.Integer({ minimum: 1, maximum: 1_440, default: 15 }),
  SIGN_IN_LOCK_MINUTES: t.Integer({ minimum: 1, maximum: 1_440, default: 15 }),
  INVITATION_TTL_HOURS: t.Number({ minimum: 0.01, maximum: 720, default: 72 }),
  // Ranges a template's "send test" may reach although not public: the same setting (and guard) as delivery's.
  DELIVERY_ALLOWED_CIDRS: t.String({ default: "" }),
  // Which proxies may name the client (sign-in limits and the session record): as for click and gateway.
  ...proxyTrustEnv,
});

const REPORT_CONSUMERS: ConsumerName[] = ["reports-clicks", "reports-conversions", "reports-commissions"];

const base = (url: string) => url.replace(/\/$/, "");
const RETENTION_INTERVAL_MS = 3_600_000;

/** Everything the admin process runs, from its validated environment and connections. */
export async function buildAdmin({
  env,
  sql,
  bus,
  logger,
  registry,
}: ServiceContext<typeof adminEnv.static>): Promise<ServiceParts> {
  if (env.ADMIN_BOOTSTRAP_API_KEY) await ensureBootstrapKey(sql, env.ADMIN_BOOTSTRAP_API_KEY);
  if (env.ADMIN_BOOTSTRAP_EMAIL && env.ADMIN_BOOTSTRAP_PASSWORD)
    await ensureBootstrapUser(sql, env.ADMIN_BOOTSTRAP_EMAIL, env.ADMIN_BOOTSTRAP_PASSWORD);
  await markAbandonedRuns(sql);
  const app = createApp({
    sql,
    bus,
    logger,
    publicClickUrl: base(env.PUBLIC_CLICK_URL),
    publicGatewayUrl: base(env.PUBLIC_GATEWAY_URL),
    clickUrl: base(env.CLICK_URL ?? env.PUBLIC_CLICK_URL),
    gatewayUrl: base(env.GATEWAY_URL ?? env.PUBLIC_GATEWAY_URL),
    codec: env.CLICK_ID_KEYS ? ClickIdCodec.fromSpec(env.CLICK_ID_KEYS) : null,
    demo: env.DEMO_ENABLED,
    demoAdvertiserToken: env.DEMO_ADVERTISER_TOKEN ?? null,
    pixelGapShare: env.REPORTS_PIXEL_GAP_SHARE,
    deliveryAllowedCidrs: parseCidrs(env.DELIVERY_ALLOWED_CIDRS),
    people: {
      sessions: {
        idleSeconds: Math.round(env.SESSION_IDLE_HOURS * 3600),
        maxSeconds: Math.round(env.SESSION_MAX_HOURS * 3600),
        secureCookie: env.SESSION_COOKIE_SECURE,
      },
      limits: {
        ...DEFAULT_SIGN_IN_LIMITS,
        maxFailures: env.SIGN_IN_MAX_FAILURES,
        windowSeconds: env.SIGN_IN_WINDOW_MINUTES * 60,
        lockSeconds: env.SIGN_IN_LOCK_MINUTES * 60,
      },
      invitationSeconds: Math.round(env.INVITATION_TTL_HOURS * 3600),
      proxyTrust: proxyTrust(env),
    },
  });
  const background: { stop(): Promise<void> }[] = [];
  return {
    app,
    consumers: env.REPORTS_ENABLED ? REPORT_CONSUMERS : [],
    // The API and console read and write PostgreSQL; with NATS down only the report rollups lag (and
    // say so in their lag gauges). The console is what an operator watches an outage from: keep it in.
    readiness: { nats: "reported" },
    async start() {
      // Partner events (payout.paid, payout.failed, statement.ready) admin writes to its outbox.
      background.push(startOutboxRelay(bus, sql, { registry, logger, streams: ["PARTNERS"] }));
      background.push(every(IDEMPOTENCY_PRUNE_MS, () => pruneIdempotencyKeys(sql), logger));
      // Other services' outbox reconcilers wait for these consumers' inbox proofs only while they run.
      await declareConsumers(sql, REPORT_CONSUMERS, env.REPORTS_ENABLED);
      // Brands' raw-data retention (EU privacy): idempotent, so every replica may run it.
      background.push(
        startPeriodic(
          "admin: dropping raw visitor data past brands' retention",
          RETENTION_INTERVAL_MS,
          async () => {
            const dropped = await dropRawVisitorData(sql);
            if (Object.values(dropped).some((n) => n > 0)) logger.info("raw visitor data dropped", dropped);
          },
          logger,
        ),
      );
      if (!env.REPORTS_ENABLED) return;
      const once =
        <T>(effect: (tx: Parameters<Parameters<typeof handleOnce>[2]>[0], payload: T) => Promise<unknown>) =>
        (d: { consumer: string; msgId: string; payload: T }) =>
          handleOnce(sql, { consumer: d.consumer, messageId: d.msgId }, (tx) => effect(tx, d.payload));
      background.push(
        consume(bus, {
          consumer: "reports-clicks",
          sql,
          concurrency: 4,
          // Click batches that waited together fold into the rollup at once: one upsert, one
          // batch inbox row, one commit (handleBatchOnce).
          maxBatch: 32,
          parse: (p) => Value.Parse(ClicksRecorded, p),
          registry,
          logger,
          batchHandler: async (ds) => {
            // The same verdicts attribution stores — floods, IP lists, unique vs. repeat — decided
            // once per message, whoever is first, in a short transaction of its own.
            const { batches } = await judgeClickBatches(
              sql,
              ds.map((d) => d.payload),
            );
            const judgedOf = new Map(ds.map((d, i) => [d, batches[i]?.clicks ?? []]));
            return handleBatchOnce(
              sql,
              "reports-clicks",
              ds,
              (d) => d.msgId,
              (tx, fresh) => foldClicks(tx, { clicks: fresh.flatMap((d) => judgedOf.get(d) ?? []) }),
            );
          },
        }),
        consume(bus, {
          consumer: "reports-conversions",
          sql,
          concurrency: 8,
          parse: (p) => Value.Parse(ConversionChanged, p),
          registry,
          logger,
          handler: once(foldConversion),
        }),
        consume(bus, {
          consumer: "reports-commissions",
          sql,
          concurrency: 8,
          parse: (p) => Value.Parse(CommissionBooked, p),
          registry,
          logger,
          handler: once(foldCommission),
        }),
        startFolding(sql, logger, env.REPORTS_FOLD_INTERVAL_MS),
      );
    },
    async stop() {
      await app.drain();
      await Promise.all(background.map((b) => b.stop()));
    },
  };
}

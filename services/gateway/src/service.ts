import { type OutboxRelay, startOutboxRelay } from "@roundtrip/bus";
import { ClickIdCodec } from "@roundtrip/clickid";
import { serviceEnv, t } from "@roundtrip/config";
import { loadDirectory, proxyTrust, proxyTrustEnv, RequestLog, relayWaker } from "@roundtrip/intake";
import { ConfigCache, type ServiceContext, type ServiceParts } from "@roundtrip/service";
import { createApp, initPostbackSeries } from "./app.ts";
import { startHousekeeping } from "./housekeeping.ts";
import { AdvertiserRateLimits } from "./rate-limit.ts";

export const gatewayEnv = serviceEnv(8082, {
  CLICK_ID_KEYS: t.String({ minLength: 35 }),
  IP_TRUNCATE: t.Union([t.Literal("none"), t.Literal("last-octet")], { default: "none" }),
  ...proxyTrustEnv,
  POSTBACK_RATE_LIMIT_PER_S: t.Integer({ minimum: 1, maximum: 1_000_000, default: 1000 }),
  POSTBACK_MAX_BODY_BYTES: t.Integer({ minimum: 1024, maximum: 1_048_576, default: 16_384 }),
});

/** Everything the gateway process runs, from its validated environment and connections. */
export async function buildGateway({
  env,
  sql,
  bus,
  logger,
  registry,
}: ServiceContext<typeof gatewayEnv.static>): Promise<ServiceParts> {
  const codec = ClickIdCodec.fromSpec(env.CLICK_ID_KEYS);
  const directory = new ConfigCache(
    "gateway-directory",
    async () => {
      const loaded = await loadDirectory(sql);
      initPostbackSeries(registry, loaded.advertisers.keys());
      return loaded;
    },
    logger,
  );
  const log = new RequestLog(sql);
  let relay: OutboxRelay | undefined;
  let housekeeping: { stop(): void } | undefined;
  await sql`select ensure_daily_partitions('postback_log', 7)`;
  if (env.TRUST_PROXY) logger.warn("TRUST_PROXY is deprecated: it now means TRUSTED_PROXY_HOPS=1");
  return {
    app: createApp({
      sql,
      codec,
      directory,
      log,
      limits: new AdvertiserRateLimits(sql, env.POSTBACK_RATE_LIMIT_PER_S),
      logger,
      registry,
      ipMode: env.IP_TRUNCATE,
      proxyTrust: proxyTrust(env),
      maxBodyBytes: env.POSTBACK_MAX_BODY_BYTES,
      onCommitted: relayWaker(() => relay),
    }),
    // A postback is committed to PostgreSQL before its 200 and relayed later: NATS down is reported, not unready.
    readiness: { nats: "reported" },
    async start() {
      await directory.start(bus);
      relay = startOutboxRelay(bus, sql, { registry, streams: ["POSTBACKS"] });
      housekeeping = startHousekeeping(sql, logger);
    },
    async stop() {
      directory.stop();
      housekeeping?.stop();
      await log.drain();
      await relay?.stop();
    },
  };
}

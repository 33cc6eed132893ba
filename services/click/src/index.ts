import { startOutboxRelay } from "@roundtrip/bus";
import { ClickIdCodec } from "@roundtrip/clickid";
import { serviceEnv, t } from "@roundtrip/config";
import { runService } from "@roundtrip/service";
import { createApp } from "./app.ts";
import { ClickWriter } from "./click-writer.ts";
import { linkCache } from "./link-cache.ts";

const schema = serviceEnv(8081, {
  CLICK_ID_KEYS: t.String({ minLength: 35 }),
  IP_TRUNCATE: t.Union([t.Literal("none"), t.Literal("last-octet")], { default: "none" }),
  TRUST_PROXY: t.Boolean({ default: false }),
  CLICK_BATCH_MAX: t.Integer({ minimum: 1, maximum: 5000, default: 500 }),
  CLICK_BATCH_DELAY_MS: t.Integer({ minimum: 0, maximum: 100, default: 2 }),
});

await runService("click", schema, async ({ env, sql, bus, logger, registry }) => {
  const codec = ClickIdCodec.fromSpec(env.CLICK_ID_KEYS);
  const links = linkCache(sql, logger);
  const writer = new ClickWriter(sql, {
    maxBatch: env.CLICK_BATCH_MAX,
    maxDelayMs: env.CLICK_BATCH_DELAY_MS,
    maxConcurrentFlushes: Math.max(1, env.DATABASE_POOL_MAX - 2),
  });
  await sql`select ensure_daily_partitions('clicks', 7)`;
  let relay: { stop(): Promise<void> } | undefined;
  return {
    app: createApp({
      links,
      writer,
      codec,
      logger,
      registry,
      ipMode: env.IP_TRUNCATE,
      trustProxy: env.TRUST_PROXY,
    }),
    async start() {
      await links.start(bus);
      relay = startOutboxRelay(bus, sql, { registry });
    },
    async stop() {
      links.stop();
      await writer.drain();
      await relay?.stop();
    },
  };
});

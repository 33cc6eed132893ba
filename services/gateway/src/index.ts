import { startOutboxRelay } from "@roundtrip/bus";
import { ClickIdCodec } from "@roundtrip/clickid";
import { serviceEnv, t } from "@roundtrip/config";
import { runService } from "@roundtrip/service";
import { createApp } from "./app.ts";
import { directoryCache } from "./directory.ts";

const schema = serviceEnv(8082, {
  CLICK_ID_KEYS: t.String({ minLength: 35 }),
});

await runService("gateway", schema, async ({ env, sql, bus, logger, registry }) => {
  const codec = ClickIdCodec.fromSpec(env.CLICK_ID_KEYS);
  const directory = directoryCache(sql, logger);
  let relay: { stop(): Promise<void> } | undefined;
  await sql`select ensure_daily_partitions('postback_log', 7)`;
  return {
    app: createApp({ sql, codec, directory, logger, registry }),
    async start() {
      await directory.start(bus);
      relay = startOutboxRelay(bus, sql, { registry });
    },
    async stop() {
      directory.stop();
      await relay?.stop();
    },
  };
});

import { serviceEnv, t } from "@roundtrip/config";
import { runService } from "@roundtrip/service";
import { createApp } from "./app.ts";
import { ensureBootstrapKey } from "./auth.ts";

const schema = serviceEnv(8080, {
  ADMIN_BOOTSTRAP_API_KEY: t.Optional(t.String({ minLength: 24 })),
  PUBLIC_CLICK_URL: t.String({ pattern: "^https?://", default: "http://127.0.0.1:8081" }),
  PUBLIC_GATEWAY_URL: t.String({ pattern: "^https?://", default: "http://127.0.0.1:8082" }),
});

await runService("admin", schema, async ({ env, sql, bus, logger }) => {
  if (env.ADMIN_BOOTSTRAP_API_KEY) await ensureBootstrapKey(sql, env.ADMIN_BOOTSTRAP_API_KEY);
  return {
    app: createApp({
      sql,
      bus,
      logger,
      publicClickUrl: env.PUBLIC_CLICK_URL.replace(/\/$/, ""),
      publicGatewayUrl: env.PUBLIC_GATEWAY_URL.replace(/\/$/, ""),
    }),
  };
});

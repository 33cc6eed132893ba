/**
 * `bun run --silent openapi` (in services/admin): the OpenAPI document on stdout, exactly as a
 * running admin serves it at /openapi.json — the app built by createApp and asked through its own
 * handler — without a database, a broker or a port. packages/client generates its types from it.
 */
import { createLogger } from "@roundtrip/telemetry";
import { createApp } from "../app.ts";

/** Building the document needs only the routes: a dependency touched while doing so is a bug here. */
const untouchable = (name: string) =>
  new Proxy(() => {}, {
    get: (_target, property) => {
      throw new Error(`the OpenAPI document must not need ${name} (touched .${String(property)})`);
    },
    apply: () => {
      throw new Error(`the OpenAPI document must not need ${name} (called)`);
    },
  });

export async function servedDocument(): Promise<unknown> {
  const app = createApp({
    sql: untouchable("the database") as never,
    bus: untouchable("the broker") as never,
    logger: createLogger("admin", "error"),
    publicClickUrl: "http://127.0.0.1:8081",
    publicGatewayUrl: "http://127.0.0.1:8082",
  });
  const res = await app.handle(new Request("http://admin.invalid/openapi.json"));
  if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}: ${await res.text()}`);
  return res.json();
}

if (import.meta.main) process.stdout.write(`${JSON.stringify(await servedDocument(), null, 2)}\n`);

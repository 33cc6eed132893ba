import type { ClickIdCodec } from "@roundtrip/clickid";
import type { Sql } from "@roundtrip/db";
import { type ConfigCache, errorHandler } from "@roundtrip/service";
import { counter, type Logger, type Registry } from "@roundtrip/telemetry";
import { Elysia } from "elysia";
import type { Directory } from "./directory.ts";
import { type Decision, receive, type RequestMeta } from "./intake.ts";

export type GatewayDeps = {
  sql: Sql;
  codec: ClickIdCodec;
  directory: ConfigCache<Directory>;
  logger: Logger;
  registry: Registry;
};

export function createApp(deps: GatewayDeps) {
  const postbacks = counter(deps.registry, "roundtrip_postbacks_total", "Advertiser postbacks by outcome", [
    "advertiser",
    "outcome",
  ]);

  const answer = async (
    raw: Record<string, unknown>,
    meta: RequestMeta,
    set: { status?: number | string },
  ) => {
    const decision: Decision = await receive(deps, raw, meta);
    postbacks.inc({ advertiser: decision.advertiserId ?? "unknown", outcome: decision.outcome });
    if (decision.status >= 400) {
      deps.logger.info("postback rejected", {
        outcome: decision.outcome,
        reason: decision.reason,
        advertiser_id: decision.advertiserId,
      });
    }
    set.status = decision.status;
    return decision.body;
  };

  return new Elysia({ name: "gateway" })
    .use(errorHandler((err) => deps.logger.error("unhandled error", { error: err as Error })))
    .get("/postback", ({ query, request, server, set }) =>
      answer(query, { method: "GET", source: "s2s", ip: server?.requestIP(request)?.address ?? null }, set),
    )
    .post("/postback", ({ body, query, request, server, set }) => {
      // Parameters may come in the query string, the body (JSON or form), or both.
      const fromBody = body && typeof body === "object" ? (body as Record<string, unknown>) : {};
      return answer(
        { ...query, ...fromBody },
        { method: "POST", source: "s2s", ip: server?.requestIP(request)?.address ?? null },
        set,
      );
    });
}

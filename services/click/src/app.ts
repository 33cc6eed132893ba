import type { ClickIdCodec } from "@roundtrip/clickid";
import { type ConfigCache, errorHandler } from "@roundtrip/service";
import { counter, type Logger, type Registry } from "@roundtrip/telemetry";
import { Elysia } from "elysia";
import { isPreviewBot } from "./bots.ts";
import type { ClickWriter } from "./click-writer.ts";
import type { ResolvedLink } from "./link-cache.ts";
import { destination, pickSubs, truncateIp } from "./redirect.ts";
import { VisitorMemory } from "./visitors.ts";

export const CLICK_COOKIE = "rt_cid";
const COOKIE_MAX_AGE_S = 30 * 24 * 60 * 60;

export type ClickDeps = {
  links: ConfigCache<Map<string, ResolvedLink>>;
  writer: ClickWriter;
  codec: ClickIdCodec;
  logger: Logger;
  registry: Registry;
  ipMode: "none" | "last-octet";
  trustProxy: boolean;
};

export function createApp(deps: ClickDeps) {
  const clicks = counter(deps.registry, "roundtrip_clicks_total", "Tracking link hits by outcome", [
    "outcome",
  ]);
  const visitors = new VisitorMemory();

  return new Elysia({ name: "click" })
    .use(errorHandler((err) => deps.logger.error("unhandled error", { error: err as Error })))
    .get("/c/:code", async ({ params, query, request, server, set }) => {
      const link = deps.links.current.get(params.code);
      if (!link) {
        clicks.inc({ outcome: "not_found" });
        set.status = 404;
        set.headers["cache-control"] = "no-store";
        return { error: { code: "not_found", message: "unknown or paused tracking link" } };
      }
      const clickedAt = new Date();
      const clickId = deps.codec.mint(link.linkId, clickedAt);
      const subs = pickSubs(query);
      const location = destination(link, clickId, subs);
      const userAgent = request.headers.get("user-agent");
      const bot = request.method === "HEAD" || isPreviewBot(userAgent);

      if (bot) {
        clicks.inc({ outcome: "bot" });
      } else {
        const ip = clientIp(request, server?.requestIP(request)?.address ?? null, deps.trustProxy);
        try {
          await deps.writer.record({
            click_id: clickId,
            clicked_at: clickedAt,
            link_id: link.linkId,
            offer_id: link.offerId,
            affiliate_id: link.affiliateId,
            brand_id: link.brandId,
            ip: truncateIp(ip, deps.ipMode),
            user_agent: userAgent?.slice(0, 512) ?? null,
            referrer: request.headers.get("referer")?.slice(0, 2048) ?? null,
            subs,
            is_unique: visitors.isUnique(link.linkId, ip, userAgent),
          });
          clicks.inc({ outcome: "recorded" });
        } catch (err) {
          // The visitor still reaches the offer: the click ID is self-authenticating, so a
          // conversion on it is credited even though this click row is missing.
          clicks.inc({ outcome: "unrecorded" });
          deps.logger.error("click not recorded", { error: err as Error, link_id: link.linkId });
        }
      }
      set.headers["cache-control"] = "no-store";
      set.headers["set-cookie"] =
        `${CLICK_COOKIE}=${clickId}; Path=/; Max-Age=${COOKIE_MAX_AGE_S}; SameSite=Lax; HttpOnly`;
      return new Response(null, {
        status: 302,
        headers: { location, ...(set.headers as Record<string, string>) },
      });
    });
}

function clientIp(request: Request, socketIp: string | null, trustProxy: boolean): string | null {
  if (trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded) return forwarded;
  }
  return socketIp;
}

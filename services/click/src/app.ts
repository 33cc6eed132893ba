import type { ClickIdCodec } from "@roundtrip/clickid";
import { REASON, stripUnstorable } from "@roundtrip/contracts";
import { clientAddress, type ProxyTrust, truncateIp } from "@roundtrip/intake";
import { type CountryLookup, LanguageParser, ZoneClock } from "@roundtrip/routing";
import { type ConfigCache, errorHandler } from "@roundtrip/service";
import type { Sql } from "@roundtrip/db";
import { counter, histogram, type Logger, type Registry } from "@roundtrip/telemetry";
import { Elysia } from "elysia";
import { boundCounter, boundHistogram } from "./bound-metrics.ts";
import { type ClickWriter, isQueueFull } from "./click-writer.ts";
import type { ResolvedLink } from "./link-cache.ts";
import { subsFromUrl } from "./redirect.ts";
import { filledCap, takeClickCap } from "./click-caps.ts";
import { type Choice, chooseDestination } from "./routing.ts";
import { AgentParser, isPrefetch } from "./visitor-agent.ts";
import { visitorKeyer } from "./visitors.ts";

export const CLICK_COOKIE = "rt_cid";
const COOKIE_MAX_AGE_S = 30 * 24 * 60 * 60;
const ROUTE = "/c/:code";

export type ClickDeps = {
  /**
   * For capped offers only: a click cap counts its clicks in PostgreSQL, a conversion or payout
   * cap is read from the counters there (click-caps.ts).
   */
  sql?: Sql;
  links: ConfigCache<Map<string, ResolvedLink>>;
  writer: ClickWriter;
  codec: ClickIdCodec;
  logger: Logger;
  registry: Registry;
  ipMode: "none" | "last-octet";
  /** Which proxies may name the visitor in X-Forwarded-For (none: the socket's peer is the visitor). */
  proxyTrust: ProxyTrust;
  /** Cookie scope: a parent domain shared with the gateway's /pixel (docs/tracking.md); none = this host. */
  cookieDomain?: string;
  /** `SameSite=None; Secure`, so the gateway's pixel on the advertiser's page still receives it (HTTPS only). */
  cookieSecure?: boolean;
  /** Key of the visitor hash each click carries (derived from CLICK_ID_KEYS). */
  visitorSecret: string;
  /** Offline GeoIP: the visitor's country, recorded on each click and routed on (docs/routing.md). */
  geo: CountryLookup;
  /** Weighted routing's draw (Math.random; tests pass a seeded one). */
  random?: () => number;
};

type ClickHandler = (request: Request, code: string, socketIp: string | null) => Promise<Response>;

/**
 * The redirect itself, free of any framework: resolve the link from memory, mint the click ID,
 * record the click (group commit: the 302 waits for the commit that holds it), answer.
 */
export function clickHandler(deps: ClickDeps): ClickHandler {
  const clicks = counter(deps.registry, "roundtrip_clicks_total", "Tracking link hits by outcome", [
    "outcome",
  ]);
  // Bound once (bound-metrics.ts): prom-client would hash the label on every click.
  const outcomeOf = (label: string) => ({ inc: boundCounter(clicks, { outcome: label }) });
  const outcome = {
    recorded: outcomeOf("recorded"),
    bot: outcomeOf("bot"),
    prefetch: outcomeOf("prefetch"),
    // Counted beside recorded/bot: the click is also recorded (reason click_cap, conversion_cap or payout_cap).
    fallback: outcomeOf("cap_fallback"),
    // Counted beside recorded/bot too: a routing rule or fallback chose the destination.
    routed: outcomeOf("routed"),
    notFound: outcomeOf("not_found"),
    unrecorded: outcomeOf("unrecorded"),
  };
  const visitorKey = visitorKeyer(deps.visitorSecret);
  const agents = new AgentParser();
  const languages = new LanguageParser();
  const clock = new ZoneClock();
  const random = deps.random ?? Math.random;
  const cookieAttributes = [
    "Path=/",
    `Max-Age=${COOKIE_MAX_AGE_S}`,
    "HttpOnly",
    deps.cookieSecure ? "SameSite=None; Secure" : "SameSite=Lax",
    ...(deps.cookieDomain ? [`Domain=${deps.cookieDomain}`] : []),
  ].join("; ");
  const notFound = JSON.stringify({
    error: { code: "not_found", message: "unknown or paused tracking link" },
  });

  return async (request, code, socketIp) => {
    const link = deps.links.current.get(code);
    if (!link) {
      outcome.notFound.inc();
      return new Response(notFound, {
        status: 404,
        headers: { "content-type": "application/json", "cache-control": "no-store" },
      });
    }
    const clickedAt = new Date();
    const subs = subsFromUrl(request.url);
    const headers = request.headers;
    const userAgent = headers.get("user-agent");
    // A prefetch or HEAD is not a click: it is answered (routed like one) but takes no cap place
    // and is not recorded.
    const prefetch = request.method === "HEAD" || isPrefetch(headers);
    const ip = clientAddress(socketIp, headers.get("x-forwarded-for"), deps.proxyTrust);
    const agent = agents.traits(userAgent);
    // Computed once, and only when a rule or a routed click's record asks.
    let country: string | null | undefined;
    const countryOf = () => {
      if (country === undefined) country = deps.geo.country(ip);
      return country;
    };
    // A capped offer's visitors take a place in its click cap, and find its conversion and payout
    // caps as the conversions and the ledger left them; once one is full they go to the next
    // destination, then its fallback, at once. Only capped offers pay these round trips, and bots
    // never take a place.
    const choice: Choice =
      !link.routing && !link.caps
        ? { link, route: null, capped: null } // the common case: no promise, no closures
        : await chooseDestination(
            link,
            {
              country: countryOf,
              deviceType: agent.device_type,
              os: agent.os,
              language: () => languages.preferred(headers.get("accept-language")),
              local: () => clock.at(link.timezone, clickedAt),
            },
            async (target) => {
              if (!target.caps || !deps.sql) return null;
              // Everyone (bots and prefetches too) is turned away from a filled offer: it pays nothing more.
              const filled = target.caps.filled && (await filledCap(deps.sql, target.caps.filled, clickedAt));
              if (filled) return filled;
              if (prefetch || agent.bot) return null;
              return (await takeClickCap(deps.sql, target.caps.limits, clickedAt)) ? null : REASON.clickCap;
            },
            random,
          );
    const served = choice.link;
    // The click ID names the link that served the click: attribution credits its offer from the ID alone.
    const clickId = deps.codec.mint(served.linkId, clickedAt);
    const location =
      choice.capped && served.caps ? served.caps.fallback(clickId, subs) : served.destination(clickId, subs);

    if (prefetch) {
      outcome.prefetch.inc();
    } else {
      const reasons: string[] = agent.bot ? [REASON.bot] : [];
      if (choice.capped) {
        reasons.push(choice.capped);
        outcome.fallback.inc();
      }
      if (choice.route) outcome.routed.inc();
      try {
        await deps.writer.record({
          click_id: clickId,
          // As the CLICKS event carries them (the batch is published as the handler built it).
          clicked_at: clickedAt.toISOString(),
          link_id: String(served.linkId),
          offer_id: served.offerId,
          affiliate_id: served.affiliateId,
          brand_id: served.brandId,
          ip: truncateIp(ip, served.ipTruncation ?? deps.ipMode),
          user_agent: visitorText(userAgent, 512),
          referrer: visitorText(headers.get("referer"), 2048),
          subs,
          // A bot's click is kept (its conversions stay explainable) but never counts as unique;
          // whether another is, its visitor key decides where every replica's clicks meet.
          is_unique: !agent.bot,
          // The link the visitor followed: a repeat visit to a smart link is a repeat wherever it went.
          visitor: visitorKey(link.linkId, ip, userAgent),
          device_type: agent.device_type,
          os: agent.os,
          browser: agent.browser,
          reasons,
          // Every click's (about a microsecond): reports group by it (report_country_daily).
          country: countryOf(),
          via_link_id: choice.route ? String(link.linkId) : null,
          route_rule_id: choice.route?.ruleId ?? null,
          route_destination_id: choice.route?.destinationId ?? null,
        });
        (agent.bot ? outcome.bot : outcome.recorded).inc();
      } catch (err) {
        // The visitor still reaches the offer: the click ID is self-authenticating, so a
        // conversion on it is credited even though this click row is missing.
        outcome.unrecorded.inc();
        // A full queue is counted and logged by the writer, not once per click.
        if (!isQueueFull(err))
          deps.logger.error("click not recorded", { error: err as Error, link_id: link.linkId });
      }
    }
    // A brand may turn the cookie off (EU privacy): the click ID still travels in the URL.
    const headers302: Record<string, string> = { location, "cache-control": "no-store" };
    if (served.clickCookie) headers302["set-cookie"] = `${CLICK_COOKIE}=${clickId}; ${cookieAttributes}`;
    return new Response(null, { status: 302, headers: headers302 });
  };
}

/** The Elysia app (tests drive it with `app.handle`; it also serves the route if the native one is not used). */
export function createApp(deps: ClickDeps, handle: ClickHandler = clickHandler(deps)) {
  return new Elysia({ name: "click" })
    .use(errorHandler((err) => deps.logger.error("unhandled error", { error: err as Error })))
    .get(ROUTE, async ({ params, request, server, set }) => {
      const response = await handle(request, params.code, server?.requestIP(request)?.address ?? null);
      set.status = response.status;
      return response;
    });
}

type Server = { requestIP(request: Request): { address: string } | null };

/**
 * The same route for Bun.serve's native router, which matches it before any framework runs:
 * the click is the hot path, and most of a request's CPU would otherwise go to per-request
 * framework and plugin work. It keeps the RED metrics the observability plugin would record.
 */
export function clickRoutes(deps: ClickDeps, handle: ClickHandler = clickHandler(deps)) {
  const requests = counter(
    deps.registry,
    "roundtrip_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
  );
  const duration = histogram(
    deps.registry,
    "roundtrip_http_request_duration_seconds",
    "HTTP request duration",
    ["method", "route", "status"],
  );
  // The route's series, bound once per method and status (bound-metrics.ts).
  const series = new Map<string, { count: () => void; time: (seconds: number) => void }>();
  const bind = (method: string, status: number) => {
    const labels = { method, route: ROUTE, status: String(status) };
    return { count: boundCounter(requests, labels), time: boundHistogram(duration, labels) };
  };
  const redirected = bind("GET", 302);
  const observe = (method: string, status: number, seconds: number) => {
    let s = method === "GET" && status === 302 ? redirected : series.get(`${method} ${status}`);
    if (!s) {
      s = bind(method, status);
      series.set(`${method} ${status}`, s);
    }
    s.count();
    s.time(seconds);
  };
  const failed = (err: unknown) => {
    deps.logger.error("unhandled error", { error: err as Error });
    return Response.json({ error: { code: "internal", message: "internal error" } }, { status: 500 });
  };
  return {
    // Not async: the handler's promise is passed on with one reaction, not awaited in another frame.
    [ROUTE]: (request: Request & { params: Record<string, string> }, server: Server) => {
      const t0 = performance.now();
      const done = (response: Response) => {
        observe(request.method, response.status, (performance.now() - t0) / 1000);
        return response;
      };
      let answer: Promise<Response>;
      try {
        answer = handle(request, request.params.code ?? "", server.requestIP(request)?.address ?? null);
      } catch (err) {
        return done(failed(err));
      }
      return answer.then(done, (err) => done(failed(err)));
    },
  };
}

/** A header as stored: trimmed to `max` characters, without what PostgreSQL cannot store. */
function visitorText(value: string | null, max: number): string | null {
  return value ? stripUnstorable(value.slice(0, max)) : null;
}

import type { ClickIdCodec } from "@roundtrip/clickid";
import type { Sql } from "@roundtrip/db";
import {
  type Channel,
  type Decision,
  type Directory,
  DirectoryLookup,
  type IntakeDeps,
  OUTCOMES,
  type ProxyTrust,
  type RequestLog,
  receive,
  refuse,
  requestClientAddress,
  SIGNATURE_HEADER,
} from "@roundtrip/intake";
import { type ConfigCache, errorHandler } from "@roundtrip/service";
import { counter, type Logger, type Registry } from "@roundtrip/telemetry";
import { Elysia } from "elysia";
import { BodyError, bodyParams, formParams, mergeParams, readBody } from "./body.ts";
import { gatewayDocument } from "./openapi.ts";
import { CLICK_COOKIE, cookieValue, PIXEL_GIF, PIXEL_JS } from "./pixel.ts";
import type { AdvertiserRateLimits } from "./rate-limit.ts";

export type GatewayDeps = {
  sql: Sql;
  codec: ClickIdCodec;
  directory: ConfigCache<Directory>;
  log: RequestLog;
  limits: AdvertiserRateLimits;
  logger: Logger;
  registry: Registry;
  ipMode: "none" | "last-octet";
  /** Which proxies may name the client in X-Forwarded-For (none: the socket's peer is the client). */
  proxyTrust: ProxyTrust;
  maxBodyBytes: number;
  /** Wakes the outbox relay after an accepted receipt committed. */
  onCommitted?: () => void;
};

type Server = { requestIP(req: Request): { address: string } | null } | null;

const UNKNOWN_ADVERTISER = "unknown";

export function postbackCounter(registry: Registry) {
  return counter(registry, "roundtrip_postbacks_total", "Advertiser postbacks by outcome", [
    "advertiser",
    "outcome",
  ]);
}

/**
 * Every outcome series of every known advertiser exists from the first scrape, at 0. A series
 * born at its first increment loses that increment to rate() and is extrapolated differently from
 * its siblings, so ratios such as the postback success rate would drift while traffic starts.
 */
export function initPostbackSeries(registry: Registry, advertiserIds: Iterable<string>): void {
  const postbacks = postbackCounter(registry);
  for (const advertiser of [UNKNOWN_ADVERTISER, ...advertiserIds]) {
    for (const outcome of OUTCOMES) postbacks.inc({ advertiser, outcome }, 0);
  }
}

export function createApp(deps: GatewayDeps) {
  const document = gatewayDocument();
  const postbacks = postbackCounter(deps.registry);
  const intake: IntakeDeps = {
    sql: deps.sql,
    codec: deps.codec,
    directory: () => deps.directory.current,
    lookup: new DirectoryLookup(deps.sql, () => deps.directory.fresh()),
    log: deps.log,
    admit: (advertiser) => deps.limits.admit(advertiser),
    ipMode: deps.ipMode,
    ...(deps.onCommitted ? { onCommitted: deps.onCommitted } : {}),
  };

  const count = (d: Decision) => {
    postbacks.inc({ advertiser: d.advertiserId ?? UNKNOWN_ADVERTISER, outcome: d.outcome });
    if (d.status >= 400) {
      deps.logger.info("postback rejected", {
        outcome: d.outcome,
        reason: d.reason,
        advertiser_id: d.advertiserId,
        status: d.status,
      });
    }
  };

  const clientIp = (request: Request, server: Server) =>
    requestClientAddress(request, server, deps.proxyTrust);

  /** A postback from an advertiser's server, GET or POST, on /postback or /postback/<brand>. */
  const s2s = async (request: Request, server: Server, pathBrand: string | undefined): Promise<Response> => {
    // A HEAD (link checkers, monitors) must never book anything.
    if (request.method === "HEAD")
      return new Response(null, { status: 405, headers: { allow: "GET, POST" } });
    const url = new URL(request.url);
    const query = formParams(url.searchParams);
    const channelBase = { kind: "s2s" as const, method: request.method, ip: clientIp(request, server) };
    let body = "";
    let params: Record<string, unknown> = query;
    try {
      if (request.method === "POST") {
        body = await readBody(request, deps.maxBodyBytes);
        params = mergeParams(query, bodyParams(request.headers.get("content-type"), body));
      }
    } catch (err) {
      if (!(err instanceof BodyError)) throw err;
      const channel: Channel = {
        ...channelBase,
        signed: { header: null, method: request.method, target: "", body: "" },
      };
      const decision = await refuseBody(deps.log, channel, query, err);
      count(decision);
      return json(decision);
    }
    const channel: Channel = {
      ...channelBase,
      signed: {
        header: request.headers.get(SIGNATURE_HEADER),
        method: request.method,
        target: url.pathname + url.search,
        body,
      },
    };
    const decision = await receive(intake, {
      channel,
      raw: params,
      ...(pathBrand === undefined ? {} : { pathBrand }),
    });
    count(decision);
    return json(decision);
  };

  /** A pixel hit from a browser: the click ID from the parameters or the tracking domain's cookie. */
  const pixel = async (request: Request, server: Server): Promise<Response> => {
    if (request.method === "HEAD")
      return new Response(null, { status: 200, headers: { "content-type": "image/gif" } });
    const url = new URL(request.url);
    const channel: Channel = {
      kind: "pixel",
      method: "GET",
      ip: clientIp(request, server),
      cookieClickId: cookieValue(request.headers.get("cookie"), CLICK_COOKIE),
    };
    const decision = await receive(intake, { channel, raw: formParams(url.searchParams) });
    count(decision);
    // Browsers only need an image; the outcome is in headers for whoever debugs the integration.
    return new Response(PIXEL_GIF, {
      status: decision.status,
      headers: {
        "content-type": "image/gif",
        "cache-control": "no-store, max-age=0",
        "x-roundtrip-outcome": decision.outcome,
        ...(decision.reason ? { "x-roundtrip-reason": decision.reason } : {}),
        ...(decision.retryAfterS ? { "retry-after": String(decision.retryAfterS) } : {}),
      },
    });
  };

  return new Elysia({ name: "gateway" })
    .use(errorHandler((err) => deps.logger.error("unhandled error", { error: err as Error })))
    .get("/openapi.json", () => document)
    .get("/postback", ({ request, server, set }) => answered(set, s2s(request, server, undefined)))
    .post("/postback", ({ request, server, set }) => answered(set, s2s(request, server, undefined)), {
      parse: "none",
    })
    .get("/postback/:brand", ({ request, server, params, set }) =>
      answered(set, s2s(request, server, params.brand)),
    )
    .post(
      "/postback/:brand",
      ({ request, server, params, set }) => answered(set, s2s(request, server, params.brand)),
      {
        parse: "none",
      },
    )
    .get("/pixel", ({ request, server, set }) => answered(set, pixel(request, server)))
    .get("/pixel.gif", ({ request, server, set }) => answered(set, pixel(request, server)))
    .get(
      "/pixel.js",
      () =>
        new Response(PIXEL_JS, {
          headers: {
            "content-type": "text/javascript; charset=utf-8",
            "cache-control": "public, max-age=3600",
          },
        }),
    );
}

/** The RED metrics read the status from `set`, so it must agree with the Response's. */
async function answered(set: { status?: number | string }, response: Promise<Response>): Promise<Response> {
  const r = await response;
  set.status = r.status;
  return r;
}

function json(d: Decision): Response {
  const headers: Record<string, string> = { "content-type": "application/json", "cache-control": "no-store" };
  if (d.retryAfterS) headers["retry-after"] = String(d.retryAfterS);
  return new Response(JSON.stringify(d.body), { status: d.status, headers });
}

function refuseBody(
  log: RequestLog,
  channel: Channel,
  query: Record<string, unknown>,
  err: BodyError,
): Promise<Decision> {
  return refuse(
    { log },
    { channel, raw: query },
    { status: err.status, reason: err.code, message: err.message },
  );
}

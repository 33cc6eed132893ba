import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { maskUrl } from "@roundtrip/contracts";
import type { Sql, Tx } from "@roundtrip/db";
import { counter, histogram, type Logger, type Registry } from "@roundtrip/telemetry";
import { type Deferral, type EndpointLimits, Endpoints } from "./endpoints.ts";
import {
  AccessTokens,
  authorize,
  BadTargetError,
  BlockedAddressError,
  type Cidr,
  type Credentials,
  checkTarget,
  type Limits,
  platformVerdict,
  type RefreshCredentials,
  type Resolver,
  send,
  TokenRefreshError,
  USER_AGENT,
  signedPayload,
  webhookHeaders,
} from "@roundtrip/outbound";
import { classify, nextDelay, type Outcome, parseRetryAfter } from "./retry.ts";

export type SenderOptions = {
  logger: Logger;
  registry: Registry;
  /** Rows claimed per query at most (and at most one per endpoint). */
  batch: number;
  /**
   * How long a claimed row is this sender's (ms): if the process dies mid-send, the row is sent
   * again once this has passed. It must outlast an attempt (`http.totalTimeoutMs`) by at least
   * LEASE_MARGIN_MS, the time its logging and final write get.
   */
  leaseMs: number;
  /**
   * Poll interval when nothing is due. The consumer in this process wakes the sender after it
   * planned rows; a NOTIFY (admin's replays) wakes it too, but planning sends none (see plan.ts).
   */
  pollMs: number;
  /** Attempts in flight at once in this replica, over all endpoints. */
  concurrency: number;
  /** Delay before each attempt of a cycle, seconds. */
  schedule: readonly number[];
  http: Limits;
  endpoint: EndpointLimits;
  allowed: Cidr[];
  /** An endpoint failing (no success) for this long is disabled and reported. */
  disableAfterMs: number;
  resolver?: Resolver;
};

type Due = {
  id: string;
  /**
   * An affiliate postback's template, or else an ad platform's destination (docs/conversions-api.md),
   * or else an operator webhook (partner events); only a template's delivery names an affiliate.
   */
  template_id: string | null;
  destination_id: string | null;
  webhook_id: string | null;
  affiliate_id: string | null;
  method: "GET" | "POST";
  url: string;
  body: string | null;
  content_type: string | null;
  attempts: number;
  cycle_attempts: number;
  template_status: string;
  disabled_reason: string | null;
  trace_context: Record<string, string> | null;
  /** Platform deliveries: not sent after this (the platform refuses older events). */
  send_before: Date | null;
};

type Attempt = {
  /** The attempt's row, inserted as `started` before the request went out. */
  id: string;
  started: Date;
  ms: number;
  status: number | null;
  error: string | null;
  excerpt: string | null;
  retryAfterS: number | null;
  remoteAddress: string | null;
  verdict: "delivered" | "retryable" | "permanent";
};

const EXCERPT_CHARS = 500;
/**
 * What a lease must leave beyond the request timeout: the attempt's DNS check, its log row and
 * its final write. A write later than that finds the row re-claimed and is dropped (see record()).
 */
export const LEASE_MARGIN_MS = 5_000;

const tracer = trace.getTracer("@roundtrip/delivery");

/**
 * The row a delivery's endpoint health is kept on: an affiliate's template, a platform
 * destination or an operator webhook.
 */
function targetOf(d: Pick<Due, "template_id" | "destination_id" | "webhook_id">) {
  if (d.webhook_id)
    return {
      table: "operator_webhooks",
      column: "webhook_id",
      id: d.webhook_id,
      resource: "operator-webhooks",
    };
  return d.destination_id
    ? {
        table: "conversion_destinations",
        column: "destination_id",
        id: d.destination_id,
        resource: "conversion-destinations",
      }
    : {
        table: "affiliate_postbacks",
        column: "template_id",
        id: d.template_id as string,
        resource: "affiliate-postbacks",
      };
}

/**
 * Sends due deliveries. Rows are claimed with `FOR UPDATE SKIP LOCKED` and leased (so replicas
 * share the work and a crashed sender's rows come back after the lease), only as many as there
 * are free slots and at most one per endpoint per claim, skipping endpoints that would refuse an
 * attempt now: a row is leased only when it is about to be sent, so a kill -9 strands at most
 * one row per request in flight. Every attempt is logged as `started` before its request goes
 * out and completed after; one a dead sender left `started` is marked `interrupted` when its
 * delivery is claimed again (the resend carries the same `webhook-id`). The outcome decides: delivered; retried on the schedule (network errors,
 * timeouts, 429, 5xx, honouring Retry-After); failed (other answers, redirects, refused
 * addresses); dead-lettered when the schedule is exhausted. 410 Gone disables the endpoint, and
 * so does failing for `disableAfterMs`; both are reported in the audit log.
 */
export function startSender(sql: Sql, options: SenderOptions) {
  const log = options.logger;
  const outcomes = counter(
    options.registry,
    "roundtrip_deliveries_total",
    "Outbound postback attempts by outcome",
    ["outcome"],
  );
  const latency = histogram(
    options.registry,
    "roundtrip_delivery_attempt_duration_seconds",
    "Outbound postback attempt duration",
    ["outcome"],
  );
  const deferred = counter(
    options.registry,
    "roundtrip_delivery_deferred_total",
    "Deliveries pushed back without an attempt",
    ["reason"],
  );
  const disabled = counter(
    options.registry,
    "roundtrip_delivery_endpoints_disabled_total",
    "Affiliate endpoints disabled by the sender",
    ["reason"],
  );
  const leasesLost = counter(
    options.registry,
    "roundtrip_delivery_leases_lost_total",
    "Attempts whose result came after their row was claimed again, so not recorded",
    ["stage"],
  );
  const skipped = counter(
    options.registry,
    "roundtrip_delivery_skipped_total",
    "Ad-platform deliveries not sent because the platform would refuse them (too old)",
    ["reason"],
  );
  const endpoints = new Endpoints(sql, { ...options.endpoint, leaseMs: options.leaseMs });
  if (options.leaseMs < options.http.totalTimeoutMs + LEASE_MARGIN_MS)
    throw new RangeError(
      `the delivery lease (${options.leaseMs} ms) must outlast an attempt (${options.http.totalTimeoutMs} ms) by at least ${LEASE_MARGIN_MS} ms`,
    );
  const leaseS = options.leaseMs / 1000;
  let stopped = false;
  let wake: (() => void) | undefined;
  // A NOTIFY or a freed slot that arrives while claiming must not be slept through.
  let woken = false;
  const wakeUp = () => {
    woken = true;
    wake?.();
  };
  const inflight = new Set<Promise<void>>();

  // Due rows are looked at in order, a few per row claimed (`lookahead`), so a backlog for one
  // endpoint does not hide the others'; the first due row of each endpoint not blocked is claimed.
  const claim = (limit: number, blocked: string[]) => sql<Due[]>`
    with candidates as (
      select id, endpoint, next_attempt_at from deliveries
      where status = 'pending' and next_attempt_at <= now() and endpoint <> all(${blocked}::text[])
      order by next_attempt_at limit ${limit * 8} for update skip locked
    ), chosen as (
      select id from (
        select distinct on (endpoint) id, next_attempt_at from candidates order by endpoint, next_attempt_at
      ) first_per_endpoint
      order by next_attempt_at limit ${limit}
    ), interrupted as (
      update delivery_attempts set outcome = 'interrupted',
        error = 'the sender stopped before the attempt finished; its lease expired'
      where outcome = 'started' and delivery_id in (select id from chosen)
    )
    update deliveries d
    set attempts = d.attempts + 1, cycle_attempts = d.cycle_attempts + 1,
        next_attempt_at = now() + make_interval(secs => ${leaseS})
    where d.id in (select id from chosen)
    returning d.id, d.template_id, d.destination_id, d.webhook_id, d.affiliate_id, d.method, d.url, d.body,
              d.content_type, d.attempts, d.cycle_attempts, d.trace_context, d.send_before,
              coalesce((select status from affiliate_postbacks where id = d.template_id),
                       (select status from conversion_destinations where id = d.destination_id),
                       (select status from operator_webhooks where id = d.webhook_id)) as template_status,
              coalesce((select disabled_reason from affiliate_postbacks where id = d.template_id),
                       (select disabled_reason from conversion_destinations where id = d.destination_id),
                       (select disabled_reason from operator_webhooks where id = d.webhook_id)) as disabled_reason`;

  const tokens = new AccessTokens({ allowed: options.allowed, http: options.http });
  /**
   * A platform destination's credentials (write-only everywhere else), read at each attempt so a
   * rotation applies at once: its access token, or one obtained from its OAuth refresh credentials.
   */
  const credentials = async (
    destinationId: string,
  ): Promise<{ credentials: Credentials; refresh: RefreshCredentials | null }> => {
    const [c] = await sql<
      (Omit<Credentials, "access_token"> & {
        access_token: string | null;
        oauth_client: string | null;
        oauth_client_secret: string | null;
        oauth_refresh_token: string | null;
        oauth_token_url: string | null;
      })[]
    >`
      select platform, access_token, app_secret, oauth_client, oauth_client_secret, oauth_refresh_token, oauth_token_url
      from conversion_destinations where id = ${destinationId}`;
    if (!c) throw new TokenRefreshError(`destination ${destinationId} is gone`, false);
    const refresh =
      c.oauth_client && c.oauth_client_secret && c.oauth_refresh_token
        ? {
            destinationId,
            clientId: c.oauth_client,
            clientSecret: c.oauth_client_secret,
            refreshToken: c.oauth_refresh_token,
            tokenUrl: c.oauth_token_url,
          }
        : null;
    const token = refresh ? await tokens.get(refresh) : c.access_token;
    if (!token) throw new TokenRefreshError(`destination ${destinationId} has no access token`, false);
    return { credentials: { platform: c.platform, access_token: token, app_secret: c.app_secret }, refresh };
  };
  /** The attempt's log row, before anything goes out: a process killed mid-send leaves it `started`. */
  const startAttempt = async (d: Due, started: Date): Promise<string> => {
    const [row] = await sql<{ id: string }[]>`
      insert into delivery_attempts (delivery_id, attempt, started_at, url, outcome)
      values (${d.id}, ${d.attempts}, ${started}, ${maskUrl(d.url)}, 'started')
      returning id`;
    if (!row) throw new Error(`attempt ${d.attempts} of delivery ${d.id} was not logged`);
    return row.id;
  };

  const request = async (d: Due, traceHeaders: Record<string, string>): Promise<Attempt> => {
    const started = new Date();
    const id = await startAttempt(d, started);
    const t0 = performance.now();
    const result = (partial: Partial<Attempt> & Pick<Attempt, "verdict">): Attempt => ({
      id,
      started,
      ms: Math.round(performance.now() - t0),
      status: null,
      error: null,
      excerpt: null,
      retryAfterS: null,
      remoteAddress: null,
      ...partial,
    });
    // A platform delivery gets its destination's token as it leaves (never stored with the row).
    let destination: Awaited<ReturnType<typeof credentials>> | null = null;
    try {
      destination = d.destination_id ? await credentials(d.destination_id) : null;
    } catch (err) {
      if (!(err instanceof TokenRefreshError)) throw err;
      return result({ verdict: err.retryable ? "retryable" : "permanent", error: err.message });
    }
    const platform = destination?.credentials ?? null;
    let auth: ReturnType<typeof authorize> | null = null;
    let target: Awaited<ReturnType<typeof checkTarget>>;
    try {
      auth = platform ? authorize(platform, d.url) : null;
      target = await checkTarget(auth?.url ?? d.url, options.allowed, options.resolver);
    } catch (err) {
      const permanent =
        err instanceof BlockedAddressError || err instanceof BadTargetError || err instanceof TypeError;
      const message = auth
        ? (err as Error).message.replaceAll(auth.url, maskUrl(auth.url))
        : (err as Error).message;
      return result({
        verdict: permanent ? "permanent" : "retryable",
        error: `${permanent ? "" : "dns: "}${message}`,
      });
    }
    // Platforms authenticate by token and dedup by the event_id in the body; affiliates get the
    // Standard Webhooks headers, signed with their secrets, and an operator webhook with its own.
    const owner = d.webhook_id
      ? sql`webhook_id = ${d.webhook_id}`
      : d.affiliate_id
        ? sql`affiliate_id = ${d.affiliate_id}`
        : null;
    const secrets = owner
      ? await sql<{ secret: string }[]>`
          select secret from affiliate_webhook_secrets
          where ${owner} and (expires_at is null or expires_at > now())
          order by id desc`
      : [];
    const headers: Record<string, string> = {
      ...traceHeaders,
      "user-agent": USER_AGENT,
      ...(auth
        ? auth.headers
        : webhookHeaders({
            id: `dlv_${d.id}`,
            at: new Date(),
            payload: signedPayload(d.method, target.url, d.body),
            secrets: secrets.map((s) => s.secret),
          })),
    };
    if (d.method === "POST") headers["content-type"] = d.content_type ?? "application/json";
    try {
      const res = await send(
        target,
        { method: d.method, headers, body: d.body },
        { ...options.http, excerptBytes: EXCERPT_CHARS },
      );
      let verdict = platform
        ? platformVerdict(platform.platform, res.status, res.excerpt)
        : classify(res.status);
      if (res.status === 401 && destination?.refresh) {
        // The access token expired or was revoked early: a new one for the retry.
        tokens.drop(destination.refresh);
        verdict = "retryable";
      }
      const redirect = res.status >= 300 && res.status < 400;
      return result({
        verdict,
        status: res.status,
        excerpt: res.excerpt,
        remoteAddress: res.remoteAddress,
        retryAfterS: verdict === "retryable" ? parseRetryAfter(res.headers["retry-after"]) : null,
        error: redirect ? `redirect to ${maskUrl(String(res.headers.location ?? "?"))} not followed` : null,
      });
    } catch (err) {
      return result({ verdict: "retryable", error: (err as Error).message.slice(0, EXCERPT_CHARS) });
    }
  };

  /** One attempt as a CLIENT span continuing the postback's trace; `traceparent` goes out with it. */
  const sendOnce = (d: Due): Promise<Attempt> => {
    const parent = propagation.extract(ROOT_CONTEXT, d.trace_context ?? {});
    const url = maskUrl(d.url);
    return tracer.startActiveSpan(
      d.method,
      {
        kind: SpanKind.CLIENT,
        attributes: { "http.request.method": d.method, "url.full": url, "roundtrip.delivery_id": d.id },
      },
      parent,
      async (span) => {
        const carrier: Record<string, string> = {};
        propagation.inject(context.active(), carrier);
        try {
          const a = await request(d, carrier);
          if (a.status !== null) span.setAttribute("http.response.status_code", a.status);
          if (a.verdict !== "delivered") {
            span.setAttribute("error.type", a.status !== null ? String(a.status) : "network");
            span.setStatus({ code: SpanStatusCode.ERROR, message: a.error ?? undefined });
          }
          return a;
        } finally {
          span.end();
        }
      },
    );
  };

  const defer = async (d: Due, deferral: Deferral) => {
    // Spread out, so a backlog held by an open circuit does not come back as one wave.
    const delayS = (deferral.delayMs * (1 + 0.5 * Math.random())) / 1000;
    const r = await sql`
      update deliveries set attempts = attempts - 1, cycle_attempts = cycle_attempts - 1,
        next_attempt_at = now() + make_interval(secs => ${delayS})
      where id = ${d.id} and attempts = ${d.attempts} and status = 'pending'`;
    if (r.count === 0) return leaseLost(d, "defer");
    deferred.inc({ reason: deferral.reason });
  };

  const disable = async (tx: Tx, d: Due, reason: "gone" | "failing", detail: string) => {
    const target = targetOf(d);
    const [row] = await tx`
      update ${tx(target.table)} set status = 'disabled', disabled_reason = ${reason}, disabled_at = now(), updated_at = now()
      where id = ${target.id} and status = 'active'
      returning id, failing_since`;
    if (!row) return false;
    await tx`
      update deliveries set status = 'dead', dead_at = now(), last_error = ${`endpoint disabled (${reason})`}
      where ${tx(target.column)} = ${target.id} and status = 'pending'`;
    await tx`
      insert into audit_log (actor, action, resource, resource_id, before, after)
      values ('service:delivery', 'disable', ${target.resource}, ${target.id}, ${tx.json({ status: "active" })},
              ${tx.json({ status: "disabled", disabled_reason: reason, detail, failing_since: row.failing_since })})`;
    return true;
  };

  /**
   * Locks the row if it is still this claim's: no sender claimed it since (its `attempts` is
   * unchanged) and it is pending. The lock is held to the commit, so no sender can claim the row
   * while this one writes it; false, and the caller writes nothing, when another one owns it.
   */
  const holdClaim = async (tx: Tx, d: Due): Promise<boolean> => {
    const mine = await tx`
      select 1 from deliveries where id = ${d.id} and attempts = ${d.attempts} and status = 'pending' for update`;
    return mine.length > 0;
  };

  /**
   * The other sender owns the row now and sends it again (the same `webhook-id`: at-least-once),
   * so this attempt's result is only logged; its log row keeps the `interrupted` the claim gave it.
   */
  const leaseLost = (d: Due, stage: "record" | "defer" | "skip", detail: Record<string, unknown> = {}) => {
    leasesLost.inc({ stage });
    log.warn(
      "delivery attempt outlived its lease: another sender claimed the row, this result is not recorded",
      {
        delivery_id: d.id,
        attempt: d.attempts,
        lease_ms: options.leaseMs,
        ...detail,
      },
    );
  };

  const record = async (d: Due, a: Attempt) => {
    const delay =
      a.verdict === "retryable" ? nextDelay(options.schedule, d.cycle_attempts, a.retryAfterS) : null;
    let outcome: Outcome =
      a.verdict === "delivered"
        ? "delivered"
        : a.verdict === "permanent"
          ? "failed"
          : delay !== null
            ? "retry"
            : "dead_lettered";
    const masked = maskUrl(d.url);
    let disabledFor: "gone" | "failing" | null = null;
    const owned = await sql.begin(async (tx) => {
      if (!(await holdClaim(tx, d))) return false;
      let disabling: { reason: "gone" | "failing"; detail: string } | null = null;
      const target = targetOf(d);
      if (outcome === "delivered") {
        // Every delivery to an endpoint shares its row: written on each success, it queued the
        // endpoint's senders behind each other (3.8 ms a delivery in a soak). A healthy endpoint's
        // row is now written at most once a second; a failing one's is cleared at once.
        await tx`
          update ${tx(target.table)} set failing_since = null, last_success_at = now()
          where id = ${target.id}
            and (failing_since is not null or last_success_at is null or last_success_at < now() - interval '1 second')`;
      } else {
        const [t] = await tx<{ failing_for_ms: number }[]>`
          update ${tx(target.table)} set failing_since = coalesce(failing_since, now()) where id = ${target.id}
          returning (extract(epoch from now() - failing_since) * 1000)::float8 as failing_for_ms`;
        if (a.status === 410) disabling = { reason: "gone", detail: "the endpoint answered 410 Gone" };
        else if (t && t.failing_for_ms >= options.disableAfterMs) {
          disabling = {
            reason: "failing",
            detail: `no successful delivery for ${Math.round(t.failing_for_ms / 3_600_000)} h`,
          };
          // no more retries for an endpoint given up on: the row waits for a replay
          if (outcome === "retry") outcome = "dead_lettered";
        }
      }
      await tx`
        update delivery_attempts set latency_ms = ${a.ms}, status_code = ${a.status}, error = ${a.error},
          response_excerpt = ${a.excerpt}, url = ${masked}, outcome = ${outcome}, retry_after_s = ${a.retryAfterS},
          remote_address = ${a.remoteAddress}
        where id = ${a.id}`;
      if (outcome === "delivered") {
        await tx`
          update deliveries set status = 'delivered', delivered_at = now(), last_status_code = ${a.status}, last_error = null
          where id = ${d.id}`;
      } else if (outcome === "retry") {
        await tx`
          update deliveries set next_attempt_at = now() + make_interval(secs => ${delay ?? 0}),
            last_status_code = ${a.status}, last_error = ${a.error}
          where id = ${d.id}`;
      } else {
        await tx`
          update deliveries set status = ${outcome === "failed" ? "failed" : "dead"}, dead_at = now(),
            last_status_code = ${a.status}, last_error = ${a.error}
          where id = ${d.id}`;
      }
      if (disabling && (await disable(tx, d, disabling.reason, disabling.detail)))
        disabledFor = disabling.reason;
      return true;
    });
    if (!owned) {
      leaseLost(d, "record", { status: a.status, error: a.error, outcome, latency_ms: a.ms });
      return;
    }
    outcomes.inc({ outcome });
    latency.observe({ outcome }, a.ms / 1000);
    if (outcome !== "delivered") {
      log.warn("delivery attempt failed", {
        delivery_id: d.id,
        attempt: d.attempts,
        url: masked,
        status: a.status,
        error: a.error,
        outcome,
        latency_ms: a.ms,
      });
    }
    if (disabledFor) {
      disabled.inc({ reason: disabledFor });
      log.error("affiliate endpoint disabled", {
        template_id: d.template_id,
        destination_id: d.destination_id,
        webhook_id: d.webhook_id,
        affiliate_id: d.affiliate_id,
        reason: disabledFor,
        url: masked,
      });
    }
  };

  const attempt = async (d: Due) => {
    if (d.template_status !== "active") {
      // Disabled after this row was planned: nothing is sent, the row waits for a replay.
      const r = await sql`
        update deliveries set attempts = attempts - 1, cycle_attempts = cycle_attempts - 1, status = 'dead', dead_at = now(),
          last_error = ${`endpoint disabled (${d.disabled_reason ?? "operator"})`}
        where id = ${d.id} and attempts = ${d.attempts} and status = 'pending'`;
      if (r.count === 0) leaseLost(d, "skip");
      return;
    }
    if (d.send_before && d.send_before.getTime() <= Date.now()) {
      // The platform would refuse it now (Meta: older than 7 days): recorded, never sent.
      const r = await sql`
        update deliveries set attempts = attempts - 1, cycle_attempts = cycle_attempts - 1, status = 'skipped',
          dead_at = now(), last_error = ${`too old to send: the platform accepts it until ${d.send_before.toISOString()}`}
        where id = ${d.id} and attempts = ${d.attempts} and status = 'pending'`;
      if (r.count === 0) leaseLost(d, "skip");
      else skipped.inc({ reason: "too_old" });
      return;
    }
    const run = await endpoints.run(
      Endpoints.key(d.url),
      d.id,
      () => sendOnce(d),
      (a) => a.verdict === "retryable",
    );
    if (!run.ran) return defer(d, run.deferral);
    await record(d, run.result);
  };

  const loop = async () => {
    while (!stopped) {
      woken = false;
      const free = options.concurrency - inflight.size;
      let due: Due[] = [];
      if (free > 0) {
        try {
          due = await claim(Math.min(options.batch, free), await endpoints.blocked());
        } catch (err) {
          log.error("claiming deliveries failed", { error: err as Error });
        }
      }
      for (const d of due) {
        const p: Promise<void> = attempt(d)
          .catch((err) => log.error("delivery attempt crashed", { delivery_id: d.id, error: err as Error }))
          .finally(() => {
            inflight.delete(p);
            wakeUp(); // a slot (and maybe an endpoint) is free
          });
        inflight.add(p);
      }
      if (stopped) break;
      // A claim takes one row per endpoint: with slots left, claim again at once.
      if ((due.length > 0 && inflight.size < options.concurrency) || woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  };

  const listening = sql.listen("roundtrip_deliveries", wakeUp);
  const running = loop();
  return {
    endpoints,
    /** Rows were planned in this process and committed: look for due rows now, not at the next poll. */
    wake: wakeUp,
    async stop() {
      stopped = true;
      wakeUp();
      await running;
      await Promise.all(inflight);
      await (await listening).unlisten();
    },
  };
}

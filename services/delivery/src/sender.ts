import type { Sql } from "@roundtrip/db";
import { counter, histogram, type Logger, type Registry } from "@roundtrip/telemetry";

// Retry schedule after each failed attempt: about a day in all before dead-lettering.
export const RETRY_DELAYS_S = [5, 300, 1800, 7200, 18000, 36000, 36000];
const ATTEMPT_TIMEOUT_MS = 10_000;
const EXCERPT_CHARS = 500;
// While an attempt is in flight its row is leased, so a crashed sender's work is picked up later.
const LEASE_S = 60;

type Due = { id: string; method: string; url: string; body: string | null; attempts: number };

/**
 * Sends due deliveries. A row is claimed with `FOR UPDATE SKIP LOCKED` and leased, so replicas
 * share the work and nothing is sent twice at once; every attempt is logged; the `webhook-id`
 * header (the delivery ID) lets the affiliate drop a repeat if an acknowledgement was lost.
 */
export function startSender(
  sql: Sql,
  options: { logger: Logger; registry: Registry; batch: number; pollMs: number },
) {
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
  let stopped = false;
  let wake: (() => void) | undefined;
  const inflight = new Set<Promise<void>>();

  const claim = () => sql<Due[]>`
    update deliveries d set attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => ${LEASE_S})
    where d.id in (
      select id from deliveries where status = 'pending' and next_attempt_at <= now()
      order by next_attempt_at limit ${options.batch} for update skip locked)
    returning d.id, d.method, d.url, d.body, d.attempts`;

  const attempt = async (d: Due) => {
    const started = new Date();
    const t0 = performance.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    let excerpt: string | null = null;
    try {
      const response = await fetch(d.url, {
        method: d.method,
        body: d.method === "POST" ? (d.body ?? "") : undefined,
        redirect: "manual",
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
        headers: { "webhook-id": `dlv_${d.id}`, "user-agent": "Roundtrip-Postback/1.0" },
      });
      statusCode = response.status;
      excerpt = (await response.text()).slice(0, EXCERPT_CHARS);
    } catch (err) {
      error = (err as Error).message.slice(0, EXCERPT_CHARS);
    }
    const ms = Math.round(performance.now() - t0);
    const delivered = statusCode !== null && statusCode >= 200 && statusCode < 300;
    const retryable = !delivered && (statusCode === null || statusCode === 429 || statusCode >= 500);
    const delay = RETRY_DELAYS_S[d.attempts - 1];
    const outcome = delivered
      ? "delivered"
      : retryable && delay !== undefined
        ? "retry"
        : retryable
          ? "dead_lettered"
          : "failed";
    await sql.begin(async (tx) => {
      await tx`
        insert into delivery_attempts (delivery_id, attempt, started_at, latency_ms, status_code, error, response_excerpt)
        values (${d.id}, ${d.attempts}, ${started}, ${ms}, ${statusCode}, ${error}, ${excerpt})`;
      if (outcome === "delivered")
        await tx`update deliveries set status = 'delivered', delivered_at = now() where id = ${d.id}`;
      else if (outcome === "retry")
        await tx`update deliveries set next_attempt_at = now() + make_interval(secs => ${delay ?? 0}) where id = ${d.id}`;
      else
        await tx`update deliveries set status = ${outcome === "failed" ? "failed" : "dead"} where id = ${d.id}`;
    });
    outcomes.inc({ outcome });
    latency.observe({ outcome }, ms / 1000);
    if (outcome !== "delivered")
      options.logger.warn("delivery attempt failed", {
        delivery_id: d.id,
        status: statusCode,
        error,
        outcome,
      });
  };

  const loop = async () => {
    while (!stopped) {
      let due: Due[] = [];
      try {
        due = await claim();
      } catch (err) {
        options.logger.error("claiming deliveries failed", { error: err as Error });
      }
      for (const d of due) {
        const p = attempt(d)
          .catch((err) =>
            options.logger.error("delivery attempt crashed", { delivery_id: d.id, error: err as Error }),
          )
          .finally(() => inflight.delete(p));
        inflight.add(p);
      }
      if (due.length < options.batch) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, options.pollMs);
        });
      } else {
        await Promise.race(inflight);
      }
    }
  };

  const listening = sql.listen("roundtrip_deliveries", () => wake?.());
  const running = loop();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await running;
      await Promise.all(inflight);
      await (await listening).unlisten();
    },
  };
}

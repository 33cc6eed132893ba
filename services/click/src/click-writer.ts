import { type Bus, publish, streamOf, subjects } from "@roundtrip/bus";
import type { ClickRecorded, ClicksRecorded } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import { counter, gauge, type Logger } from "@roundtrip/telemetry";
import { Gauge, Registry } from "prom-client";
import { type BreakerState, PublishBreaker } from "./publish-breaker.ts";

/**
 * A click as the CLICKS event carries it (contracts' ClickRecorded): the redirect builds it once,
 * a batch is published as it is, and the PostgreSQL fallback reads the same fields
 * (json_populate_recordset over the clicks columns; `visitor` is not one of them).
 */
export type ClickRow = ClickRecorded;

export type ClickWriterOptions = {
  /** Where batches go first; PostgreSQL is always the fallback. */
  sink: { bus: Bus } | "postgres";
  /** For the writer's metrics and `roundtrip_bus_published_total`. */
  registry?: Registry;
  logger?: Logger;
  /** Called when a publish failed and the batch went to PostgreSQL instead. */
  onFallback?: (err: unknown) => void;
  maxBatch: number;
  maxDelayMs: number;
  maxConcurrentFlushes: number;
  /** Clicks waiting for a batch; beyond it a click is refused at once (ClickQueueFullError). */
  maxQueue: number;
  /** A CLICKS publish not acknowledged within this is a failure: the batch goes to PostgreSQL. */
  publishTimeoutMs: number;
  /** Consecutive failed publishes that open the circuit, and how long it stays open before a probe. */
  breaker: { failures: number; halfOpenAfterMs: number };
  /** Wakes the outbox relay after a batch committed (the batch sends no NOTIFY: see intake). */
  onCommitted?: () => void;
};

/** The writer's queue is full: both sinks are behind, and waiting longer would only grow memory. */
export class ClickQueueFullError extends Error {
  override readonly name = "ClickQueueFullError";
  readonly code = "click_queue_full";
  constructor(limit: number) {
    super(`click queue full (${limit} clicks waiting)`);
  }
}

export const isQueueFull = (err: unknown): err is ClickQueueFullError => err instanceof ClickQueueFullError;

type Waiter = { row: ClickRow; resolve: () => void; reject: (err: unknown) => void };

const BREAKER_STATES: readonly BreakerState[] = ["closed", "half_open", "open"];

/**
 * Group write for clicks: requests that arrive together share one durable write, and each
 * redirect waits for the write that holds its click. Under load a batch fills while the previous
 * one is written, so throughput grows with concurrency instead of with round trips; when idle a
 * click waits at most `maxDelayMs` for company.
 *
 * The durable write is one JetStream publish of the whole batch to CLICKS (acknowledged by the
 * stream; R3 with `sync_interval: always` in production), from which attribution stores the rows.
 * That keeps PostgreSQL off the redirect path, so the click service scales with replicas. Should
 * the publish fail or take longer than `publishTimeoutMs`, the batch is written to PostgreSQL
 * instead — rows and the CLICKS event in one statement, the event then relayed through the outbox
 * under the same `Nats-Msg-Id` — so a click is never dropped for a broker hiccup, and never stored
 * or counted twice should the timed-out publish have landed after all (attribution keeps the row
 * it finds and handles each message ID once). While the broker fails, a circuit breaker sends
 * batches straight to PostgreSQL without waiting on it. Without a bus (`sink: "postgres"`) every
 * batch takes that path.
 *
 * Memory is bounded: at most `maxQueue` clicks wait, plus the batches in flight.
 */
export class ClickWriter {
  private queue: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private readonly breaker: PublishBreaker | undefined;
  private readonly metrics: ReturnType<typeof writerMetrics>;
  private lastShedLogAt = 0;
  private lastBreakerState: BreakerState = "closed";
  private readonly registry: Registry;

  constructor(
    private readonly sql: Sql,
    private readonly options: ClickWriterOptions,
  ) {
    this.registry = options.registry ?? new Registry();
    this.metrics = writerMetrics(this.registry);
    countQueue(this.registry, this);
    const { sink } = options;
    if (sink !== "postgres") {
      const stream = sink.bus.names.stream("CLICKS");
      this.breaker = new PublishBreaker({
        ...options.breaker,
        probe: () => sink.bus.jsm.streams.info(stream),
        probeTimeoutMs: Math.max(1_000, options.publishTimeoutMs),
        connection: sink.bus.nc,
        onChange: (state, cause) => this.breakerChanged(state, cause),
      });
    }
    this.breakerChanged(this.breaker?.state ?? "closed");
  }

  /** Clicks waiting for a batch (the ones being written not counted). */
  get waiting(): number {
    return this.queue.length;
  }

  /** Where batches go now: the broker's circuit state (`closed` = published). */
  get breakerState(): BreakerState {
    return this.breaker?.state ?? "closed";
  }

  record(row: ClickRow): Promise<void> {
    if (this.queue.length >= this.options.maxQueue) return this.shed();
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (this.queue.length >= this.options.maxBatch) this.flushSoon(0);
      else this.flushSoon(this.options.maxDelayMs);
    });
  }

  /** Resolves when every click handed in so far is committed (or failed). */
  async drain(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0 || this.inflight.size > 0) {
      if (this.queue.length > 0 && this.inflight.size < this.options.maxConcurrentFlushes) this.flush();
      await Promise.race(this.inflight);
    }
  }

  /** Drains, then stops probing the broker. */
  async close(): Promise<void> {
    await this.drain();
    this.breaker?.stop();
    queued.get(this.registry)?.delete(this);
  }

  /**
   * A full queue refuses the click at once rather than writing it some other way: both sinks are
   * already behind, and more concurrent writes would only add load and memory. The caller still
   * redirects the visitor (the click ID credits a conversion on its own); the loss is counted
   * and logged, at most once a second.
   */
  private shed(): Promise<void> {
    this.metrics.shed.inc();
    const now = Date.now();
    if (now - this.lastShedLogAt >= 1_000) {
      this.lastShedLogAt = now;
      this.options.logger?.error("click queue full: clicks are redirected without being recorded", {
        queue_max: this.options.maxQueue,
      });
    }
    return Promise.reject(new ClickQueueFullError(this.options.maxQueue));
  }

  private breakerChanged(state: BreakerState, cause?: unknown): void {
    for (const s of BREAKER_STATES) this.metrics.breaker.set({ state: s }, s === state ? 1 : 0);
    const was = this.lastBreakerState;
    this.lastBreakerState = state;
    // Once per outage: a probe that fails (half-open → open) is not news.
    if (state === "open" && was === "closed") {
      this.options.logger?.error(
        "CLICKS publishes failing: click batches go to PostgreSQL until the broker answers",
        {
          error: cause instanceof Error ? cause : new Error(String(cause)),
        },
      );
    } else if (state === "closed" && was !== "closed") {
      this.options.logger?.info("broker answers again: click batches are published to CLICKS");
    }
  }

  private flushSoon(delayMs: number): void {
    if (this.inflight.size >= this.options.maxConcurrentFlushes) return; // picked up when a flush ends
    if (delayMs === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, delayMs);
    }
  }

  private flush(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.options.maxBatch);
    const done: Promise<void> = this.write(batch.map((w) => w.row))
      .then(
        () => {
          for (const w of batch) w.resolve();
        },
        (err) => {
          for (const w of batch) w.reject(err);
        },
      )
      .finally(() => {
        this.inflight.delete(done);
        if (this.queue.length > 0)
          this.flushSoon(this.queue.length >= this.options.maxBatch ? 0 : this.options.maxDelayMs);
      });
    this.inflight.add(done);
  }

  /**
   * One statement, so one round trip and an implicit transaction: the batch travels as one JSON
   * document (serialised natively, parsed by PostgreSQL; a constant statement text, prepared
   * once, whatever the batch size), the rows are inserted together with the batch's CLICKS outbox
   * event — all or nothing.
   */
  private async write(rows: ClickRow[]): Promise<void> {
    const event: ClicksRecorded = { clicks: rows };
    // The first click ID names the batch: a retried publish inside the duplicate window is dropped.
    const msgId = `clicks:${rows[0]?.click_id}`;
    const { sink } = this.options;
    if (sink !== "postgres" && this.breaker) {
      let reason: "publish_failed" | "breaker_open" = "breaker_open";
      if (this.breaker.closed) {
        try {
          await this.breaker.execute(() =>
            publish(sink.bus, subjects.clickRecorded(), event, {
              msgId,
              registry: this.options.registry,
              timeoutMs: this.options.publishTimeoutMs,
            }),
          );
          return;
        } catch (err) {
          reason = "publish_failed";
          this.options.onFallback?.(err);
        }
      }
      this.metrics.fallback.inc({ reason }, rows.length);
    }
    await this.writeToPostgres(rows, event, msgId);
  }

  private async writeToPostgres(rows: ClickRow[], event: ClicksRecorded, msgId: string): Promise<void> {
    // The CLICKS event is serialised here too: native JSON.stringify costs a fraction of what
    // building the same document with jsonb functions costs PostgreSQL per row.
    await this.sql`
      with input as (
        select * from json_populate_recordset(null::clicks, ${JSON.stringify(rows)}::text::json)
      ), inserted as (
        insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, referrer, subs, is_unique,
                            device_type, os, browser, reasons, country, via_link_id, route_rule_id, route_destination_id)
        select click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, referrer, subs, is_unique,
               device_type, os, browser, reasons, country, via_link_id, route_rule_id, route_destination_id
        from input
        -- A publish that timed out may still have reached CLICKS, and attribution stored its rows
        -- first: those clicks are recorded. The event goes out again under the same id (a duplicate).
        on conflict (click_id, clicked_at) do nothing
      )
      insert into bus_outbox (subject, stream, msg_id, payload)
      values (${subjects.clickRecorded()}, ${streamOf(subjects.clickRecorded())}, ${msgId}, ${JSON.stringify(event)}::text::jsonb)`;
    this.options.onCommitted?.();
  }
}

/** The writers counted by each registry's queue gauge (one per process; tests make more). */
const queued = new WeakMap<Registry, Set<ClickWriter>>();

/**
 * `roundtrip_click_queue_clicks`, read from the writers' queues when scraped rather than set on
 * every click (a gauge's set() is an allocation and a label hash per redirect).
 */
function countQueue(registry: Registry, writer: ClickWriter): void {
  let writers = queued.get(registry);
  if (!writers) {
    const all = new Set<ClickWriter>();
    writers = all;
    queued.set(registry, all);
    new Gauge({
      name: "roundtrip_click_queue_clicks",
      help: "Clicks waiting for a batch write",
      registers: [registry],
      collect() {
        let n = 0;
        for (const w of all) n += w.waiting;
        this.set(n);
      },
    });
  }
  writers.add(writer);
}

function writerMetrics(registry: Registry) {
  return {
    shed: counter(
      registry,
      "roundtrip_click_queue_shed_total",
      "Clicks redirected without being recorded because the writer's queue was full",
    ),
    fallback: counter(
      registry,
      "roundtrip_click_fallback_clicks_total",
      "Clicks written to PostgreSQL instead of published to CLICKS, by reason",
      ["reason"],
    ),
    breaker: gauge(
      registry,
      "roundtrip_click_breaker_state",
      "The CLICKS publish circuit: 1 for the current state (closed = published, open = PostgreSQL)",
      ["state"],
    ),
  };
}

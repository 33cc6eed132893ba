import { type Bus, publish, subjects } from "@roundtrip/bus";
import type { ClicksRecorded } from "@roundtrip/contracts";
import type { Sql } from "@roundtrip/db";
import type { Registry } from "prom-client";

export type ClickRow = {
  click_id: string;
  clicked_at: Date;
  link_id: number;
  offer_id: string;
  affiliate_id: string;
  brand_id: string;
  ip: string | null;
  user_agent: string | null;
  referrer: string | null;
  subs: Record<string, string>;
  is_unique: boolean;
};

type Waiter = { row: ClickRow; resolve: () => void; reject: (err: unknown) => void };

/**
 * Group write for clicks: requests that arrive together share one durable write, and each
 * redirect waits for the write that holds its click. Under load a batch fills while the previous
 * one is written, so throughput grows with concurrency instead of with round trips; when idle a
 * click waits at most `maxDelayMs` for company.
 *
 * The durable write is one JetStream publish of the whole batch to CLICKS (acknowledged by the
 * stream; R3 with `sync_interval: always` in production), from which attribution stores the rows.
 * That keeps PostgreSQL off the redirect path, so the click service scales with replicas. Should
 * the publish fail, the batch is written to PostgreSQL instead — rows and the CLICKS event in one
 * statement, the event then relayed through the outbox — so a click is never dropped for a broker
 * hiccup. Without a bus (`sink: "postgres"`) every batch takes that path.
 */
export class ClickWriter {
  private queue: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly sql: Sql,
    private readonly options: {
      /** Where batches go first; PostgreSQL is always the fallback. */
      sink: { bus: Bus } | "postgres";
      /** For the publish metrics (`roundtrip_bus_published_total`). */
      registry?: Registry;
      /** Called when a publish failed and the batch went to PostgreSQL instead. */
      onFallback?: (err: unknown) => void;
      maxBatch: number;
      maxDelayMs: number;
      maxConcurrentFlushes: number;
      /** Wakes the outbox relay after a batch committed (the batch sends no NOTIFY: see intake). */
      onCommitted?: () => void;
    },
  ) {}

  record(row: ClickRow): Promise<void> {
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
    const event: ClicksRecorded = {
      clicks: rows.map((r) => ({
        click_id: r.click_id,
        clicked_at: r.clicked_at.toISOString(),
        link_id: String(r.link_id),
        offer_id: r.offer_id,
        affiliate_id: r.affiliate_id,
        brand_id: r.brand_id,
        is_unique: r.is_unique,
        ip: r.ip,
        user_agent: r.user_agent,
        referrer: r.referrer,
        subs: r.subs,
      })),
    };
    // The first click ID names the batch: a retried publish inside the duplicate window is dropped.
    const msgId = `clicks:${rows[0]?.click_id}`;
    const { sink } = this.options;
    if (sink !== "postgres") {
      try {
        await publish(sink.bus, subjects.clickRecorded(), event, { msgId, registry: this.options.registry });
        return;
      } catch (err) {
        this.options.onFallback?.(err);
      }
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
        insert into clicks (click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, referrer, subs, is_unique)
        select click_id, clicked_at, link_id, offer_id, affiliate_id, brand_id, ip, user_agent, referrer, subs, is_unique
        from input
      )
      insert into bus_outbox (subject, msg_id, payload)
      values (${subjects.clickRecorded()}, ${msgId}, ${JSON.stringify(event)}::text::jsonb)`;
    this.options.onCommitted?.();
  }
}

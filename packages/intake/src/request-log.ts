import type { Sql } from "@roundtrip/db";

export type LogRow = {
  advertiser_id: string | null;
  brand_id: string | null;
  source: string;
  method: string;
  params: Record<string, unknown>;
  ip: string | null;
  outcome: string;
  reason: string | null;
  http_status: number;
  receipt_id: string | null;
  import_id: string | null;
  import_row: number | null;
};

type Waiter = { row: LogRow; resolve: () => void; reject: (err: unknown) => void };

const MAX_BATCH = 500;

/**
 * The append-only request log for requests that were not accepted (accepted ones are logged in
 * the receipt's own statement). Every caller waits until its row is committed, but rows that
 * arrive while a write is in flight share the next INSERT — a flood of bad requests costs one
 * round trip per batch, not one per request, and the log never falls behind silently.
 */
export class RequestLog {
  private queue: Waiter[] = [];
  private flushing: Promise<void> | undefined;

  constructor(private readonly sql: Sql) {}

  write(row: LogRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (!this.flushing) this.flushing = this.flush();
    });
  }

  /** Resolves when every row handed in so far is written (or failed). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flush(): Promise<void> {
    // Let the rest of this tick's requests join the batch.
    await Promise.resolve();
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      try {
        await this.insert(batch.map((w) => w.row));
        for (const w of batch) w.resolve();
      } catch (err) {
        if (batch.length === 1) {
          batch[0]?.reject(err);
          continue;
        }
        // One row PostgreSQL refuses must not fail the requests that merely shared its statement.
        for (const w of batch) await this.insert([w.row]).then(w.resolve, w.reject);
      }
    }
    this.flushing = undefined;
  }

  private insert(rows: LogRow[]) {
    return this
      .sql`insert into postback_log ${this.sql(rows.map((row) => ({ ...row, params: this.sql.json(row.params as never) })) as never)}`;
  }
}

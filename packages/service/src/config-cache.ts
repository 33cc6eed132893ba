import { type Bus, subjects, subscribe } from "@roundtrip/bus";
import type { Logger } from "@roundtrip/telemetry";

const REFRESH_INTERVAL_MS = 30_000;
const CHANGE_DEBOUNCE_MS = 50;
/** Demand reloads (`fresh`) start at most this often, so callers cannot turn them into a flood of queries. */
const FRESH_MIN_INTERVAL_MS = 50;

/**
 * Configuration held in memory so hot paths never read the database. A change announced by
 * admin on the bus reloads it after a short debounce (well within a second); a timer reloads it
 * anyway, so a lost announcement only delays a change; a failed reload keeps the last good copy.
 */
export class ConfigCache<T> {
  private value: T | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private pending: ReturnType<typeof setTimeout> | undefined;
  private unsubscribe: (() => void) | undefined;
  private nextFresh: Promise<T> | undefined;
  private lastFreshStart = 0;
  private freshLoad: Promise<unknown> | undefined;

  constructor(
    private readonly name: string,
    private readonly loader: () => Promise<T>,
    private readonly logger: Logger,
  ) {}

  get current(): T {
    if (this.value === undefined) throw new Error(`${this.name} cache used before start()`);
    return this.value;
  }

  async reload(): Promise<void> {
    this.value = await this.loader();
  }

  /**
   * A copy loaded after this call began, for a caller that met a name the cache does not know
   * yet (a link created a moment ago): every caller waiting meanwhile shares one load, and loads
   * start at most every FRESH_MIN_INTERVAL_MS.
   */
  fresh(): Promise<T> {
    this.nextFresh ??= (async () => {
      // One load at a time, so an older copy never lands after a newer one.
      await this.freshLoad?.catch(() => undefined);
      await Bun.sleep(Math.max(0, this.lastFreshStart + FRESH_MIN_INTERVAL_MS - Date.now()));
      // From here on a new caller needs a load that starts after it: it queues the next one.
      this.nextFresh = undefined;
      this.lastFreshStart = Date.now();
      const load = this.loader();
      this.freshLoad = load;
      const value = await load;
      this.value = value;
      return value;
    })();
    return this.nextFresh;
  }

  async start(bus: Bus): Promise<void> {
    await this.reload();
    this.unsubscribe = subscribe(bus, subjects.configChangedAll(), () => this.scheduleReload());
    this.timer = setInterval(() => this.scheduleReload(), REFRESH_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.pending);
    this.unsubscribe?.();
  }

  private scheduleReload(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.reload().catch((err) =>
        this.logger.warn("cache reload failed; serving the last copy", {
          cache: this.name,
          error: err as Error,
        }),
      );
    }, CHANGE_DEBOUNCE_MS);
  }
}

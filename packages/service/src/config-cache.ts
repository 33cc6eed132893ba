import { type Bus, subjects, subscribe } from "@roundtrip/bus";
import type { Logger } from "@roundtrip/telemetry";

const REFRESH_INTERVAL_MS = 30_000;
const CHANGE_DEBOUNCE_MS = 50;

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

import type { OutboxRelay } from "@roundtrip/bus";

/**
 * Wakes this process's outbox relay after a commit, without a PostgreSQL NOTIFY (which would
 * serialise the hot path's commits). Wake-ups coalesce: a relay pass starts at most every
 * `minIntervalMs`, and however many commits arrive meanwhile, one more pass is owed. Under load
 * that keeps relay work per pass, not per commit (each pass is a handful of queries and
 * publishes up to a batch of rows); idle, an event leaves at once. Rows another replica
 * committed are published by that replica's relay, or by any relay's interval poll.
 */
export function relayWaker(relay: () => OutboxRelay | undefined, minIntervalMs = 20): () => void {
  let running = false;
  let owed = false;
  let lastStart = 0;
  const run = async () => {
    running = true;
    do {
      owed = false;
      const wait = lastStart + minIntervalMs - Date.now();
      if (wait > 0) await Bun.sleep(wait);
      lastStart = Date.now();
      await relay()
        ?.flush()
        .catch(() => {});
    } while (owed);
    running = false;
  };
  return () => {
    if (running) owed = true;
    else void run();
  };
}

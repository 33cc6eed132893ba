import type { OutboxRelay } from "@roundtrip/bus";

/**
 * Wakes this process's outbox relay after a commit, without a PostgreSQL NOTIFY (which would
 * serialise the hot path's commits). Wake-ups coalesce: at most one relay pass runs and one more
 * is owed, however many commits arrive meanwhile. Rows another replica committed are published by
 * that replica's relay, or by anyone's interval poll.
 */
export function relayWaker(relay: () => OutboxRelay | undefined): () => void {
  let running = false;
  let owed = false;
  const run = async () => {
    running = true;
    do {
      owed = false;
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

/**
 * The click share of the soak, in a worker thread of its own so thousands of redirects a second do
 * not queue behind the main thread's postbacks, affiliate endpoints and measurements. Each click
 * is a browser's `GET /c/<code>?sub1=…` (redirect not followed) on one of the program's links.
 */
import { LatencyWindow, type Pacer, pace } from "./pace.ts";
import { visitorAddress } from "./visitors.ts";

export type ClickLoadStart = {
  type: "start";
  /** Tracking URLs (`…/c/<code>`), used in turn. */
  urls: string[];
  ratePerSecond: number;
  maxInFlight: number;
  timeoutMs: number;
  userAgent: string;
};
export type ClickLoadCounts = { redirects: number; errors: number; skipped: number; lastError?: string };
export type ClickLoadMessage =
  | ClickLoadStart
  | { type: "sample" }
  | { type: "stop" }
  | ({ type: "sample"; latencies: number[] } & ClickLoadCounts)
  | ({ type: "stopped" } & ClickLoadCounts);

declare const self: Worker;

const latencies = new LatencyWindow();
const counts: ClickLoadCounts = { redirects: 0, errors: 0, skipped: 0 };
const reported = { redirects: 0, errors: 0, skipped: 0 };
let pacer: Pacer | undefined;

function since(): ClickLoadCounts {
  const c = { ...counts, skipped: pacer?.skipped ?? 0 };
  const delta = {
    redirects: c.redirects - reported.redirects,
    errors: c.errors - reported.errors,
    skipped: c.skipped - reported.skipped,
    lastError: c.lastError,
  };
  Object.assign(reported, { redirects: c.redirects, errors: c.errors, skipped: c.skipped });
  return delta;
}

self.onmessage = async (event: MessageEvent<ClickLoadMessage>) => {
  const msg = event.data;
  if (msg.type === "start") {
    const { urls, timeoutMs, userAgent } = msg;
    pacer = pace(msg.ratePerSecond, msg.maxInFlight, async (n) => {
      const began = performance.now();
      try {
        const res = await fetch(`${urls[n % urls.length]}?sub1=c${n}`, {
          redirect: "manual",
          headers: { "user-agent": userAgent, "x-forwarded-for": visitorAddress(n) },
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.arrayBuffer();
        if (res.status === 302) {
          counts.redirects++;
          latencies.push(performance.now() - began);
        } else {
          counts.errors++;
          counts.lastError = `status ${res.status}`;
        }
      } catch (err) {
        counts.errors++;
        counts.lastError = (err as Error).message;
      }
    });
  } else if (msg.type === "sample" && !("latencies" in msg)) {
    self.postMessage({ type: "sample", latencies: latencies.take(), ...since() } satisfies ClickLoadMessage);
  } else if (msg.type === "stop") {
    await pacer?.stop();
    self.postMessage({ type: "stopped", ...counts, skipped: pacer?.skipped ?? 0 } satisfies ClickLoadMessage);
  }
};

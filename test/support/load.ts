/**
 * A bounded conversion load, as advertisers and visitors produce it: each journey is a click on a
 * tracking link (GET /c/{code}, redirect not followed) and then a postback with its own txid. A step
 * that fails (a service is down, a request times out) is tried again, as a browser or an
 * advertiser's retry would, until the journey's deadline. The point is the record: which txids the
 * gateway acknowledged (200), and when.
 */

/** A desktop browser: not a bot (isbot) or prefetch (services/click/src/visitor-agent.ts), so every click counts. */
export const BROWSER_UA =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";

export type LoadOptions = {
  clickUrl: string;
  gatewayUrl: string;
  linkCode: string;
  advertiserToken: string;
  /** Journeys started per second. */
  ratePerSecond: number;
  /** At most this many journeys in all (the load stops by itself). */
  maxJourneys: number;
  /** Journeys in flight at once (default 32). */
  concurrency?: number;
  /** A journey gives up after this long (default 30 s). */
  journeyDeadlineMs?: number;
  /** Per HTTP request (default 5 s). */
  requestTimeoutMs?: number;
  /** Unique per run: txids are `<txPrefix>-<n>`. */
  txPrefix: string;
};

export type Journey = {
  n: number;
  txid: string;
  clickId?: string;
  /** `accepted`: 200 with duplicate false; `duplicate`: 200 on a retry whose earlier answer was lost. */
  outcome: "pending" | "accepted" | "duplicate" | "failed";
  receiptId?: string;
  startedAt: number;
  /** When the gateway's 200 arrived. */
  ackedAt?: number;
  clickTries: number;
  postbackTries: number;
  lastError?: string;
};

export class Load {
  readonly journeys: Journey[] = [];
  readonly #options: Required<LoadOptions>;
  #stopped = false;
  #done: Promise<void> | undefined;

  constructor(options: LoadOptions) {
    this.#options = { concurrency: 32, journeyDeadlineMs: 30_000, requestTimeoutMs: 5_000, ...options };
  }

  /** Start sending; resolves once every journey it started has ended. */
  start(): Promise<void> {
    this.#done ??= this.#run();
    return this.#done;
  }

  /** Start no new journey; resolves once those in flight have ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }

  /** Journeys the gateway answered 200 (accepted or duplicate): each must become exactly one conversion. */
  acknowledged(): Journey[] {
    return this.journeys.filter((j) => j.outcome === "accepted" || j.outcome === "duplicate");
  }

  summary(): string {
    const by = (o: Journey["outcome"]) => this.journeys.filter((j) => j.outcome === o).length;
    const failed = this.journeys.filter((j) => j.outcome === "failed").slice(0, 5);
    return (
      `journeys ${this.journeys.length}: accepted ${by("accepted")}, duplicate-on-retry ${by("duplicate")}, ` +
      `failed ${by("failed")}, pending ${by("pending")}; retried clicks ${this.journeys.reduce((s, j) => s + j.clickTries - 1, 0)}, ` +
      `retried postbacks ${this.journeys.reduce((s, j) => s + Math.max(0, j.postbackTries - 1), 0)}` +
      (failed.length ? `; failed e.g. ${failed.map((j) => `${j.txid}: ${j.lastError}`).join(" | ")}` : "")
    );
  }

  async #run(): Promise<void> {
    const { ratePerSecond, maxJourneys, concurrency, txPrefix } = this.#options;
    const intervalMs = 1_000 / ratePerSecond;
    const began = performance.now();
    const inFlight = new Set<Promise<void>>();
    for (let n = 0; n < maxJourneys && !this.#stopped; n++) {
      const due = began + n * intervalMs - performance.now();
      if (due > 0) await Bun.sleep(due);
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
      if (this.#stopped) break;
      const journey: Journey = {
        n,
        txid: `${txPrefix}-${n}`,
        outcome: "pending",
        startedAt: Date.now(),
        clickTries: 0,
        postbackTries: 0,
      };
      this.journeys.push(journey);
      const run = this.#journey(journey).finally(() => inFlight.delete(run));
      inFlight.add(run);
    }
    await Promise.all(inFlight);
  }

  async #journey(j: Journey): Promise<void> {
    const deadline = j.startedAt + this.#options.journeyDeadlineMs;
    while (!j.clickId) {
      if (Date.now() > deadline) return this.#fail(j, `no click ID: ${j.lastError}`);
      j.clickTries++;
      j.clickId = await this.#click(j);
      if (!j.clickId) await Bun.sleep(200);
    }
    while (j.outcome === "pending") {
      if (Date.now() > deadline) return this.#fail(j, `postback never answered 200: ${j.lastError}`);
      j.postbackTries++;
      await this.#postback(j);
      if (j.outcome === "pending") await Bun.sleep(200);
    }
  }

  #fail(j: Journey, why: string): void {
    j.outcome = "failed";
    j.lastError = why;
  }

  async #click(j: Journey): Promise<string | undefined> {
    const { clickUrl, linkCode, requestTimeoutMs } = this.#options;
    try {
      const res = await fetch(`${clickUrl}/c/${linkCode}?sub1=${encodeURIComponent(j.txid)}`, {
        redirect: "manual",
        headers: { "user-agent": BROWSER_UA },
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      await res.arrayBuffer();
      const location = res.headers.get("location");
      const clickId = location ? new URL(location).searchParams.get("cid") : null;
      if (res.status === 302 && clickId) return clickId;
      j.lastError = `click ${res.status}`;
    } catch (err) {
      j.lastError = `click: ${(err as Error).message}`;
    }
    return undefined;
  }

  /** Resend the one postback for this journey; the same txid each time, as an advertiser's retry. */
  async #postback(j: Journey): Promise<void> {
    const { requestTimeoutMs } = this.#options;
    try {
      const res = await fetch(postbackUrl(this.#options, j), {
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      const text = await res.text();
      if (res.status !== 200) {
        j.lastError = `postback ${res.status} ${text.slice(0, 120)}`;
        return;
      }
      const body = JSON.parse(text) as { duplicate?: boolean; receipt_id?: string };
      j.outcome = body.duplicate ? "duplicate" : "accepted";
      j.receiptId = body.receipt_id;
      j.ackedAt = Date.now();
    } catch (err) {
      j.lastError = `postback: ${(err as Error).message}`;
    }
  }
}

/** The journey's postback (always the same for a journey: a resend is the advertiser's retry). */
export function postbackUrl(target: { gatewayUrl: string; advertiserToken: string }, j: Journey): string {
  const query = new URLSearchParams({
    token: target.advertiserToken,
    click_id: j.clickId as string,
    txid: j.txid,
    event: "ftd",
    amount: "10.00",
  });
  return `${target.gatewayUrl}/postback?${query}`;
}

/** The same postback again, as an advertiser resending one it is unsure about. */
export async function resendPostback(
  target: { gatewayUrl: string; advertiserToken: string },
  j: Journey,
): Promise<{ status: number; text: string; duplicate: boolean | undefined }> {
  const res = await fetch(postbackUrl(target, j), { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let duplicate: boolean | undefined;
  try {
    duplicate = (JSON.parse(text) as { duplicate?: boolean }).duplicate;
  } catch {
    duplicate = undefined;
  }
  return { status: res.status, text, duplicate };
}

/**
 * The conversion share of the soak, as advertisers produce it: a visitor's click on one of the
 * program's links, then the advertiser's signed S2S postback with its own txid, and for a share of
 * them the same postback again (signed afresh, as a retrying advertiser must), which has to answer
 * `duplicate: true`. Nothing is retried on failure: an error is counted, and only postbacks the
 * gateway answered 200 are owed a conversion (the exactness check reads `journeys`).
 */
import { type Journey, postbackUrl } from "@roundtrip/e2e/support/load.ts";
import { signPostback } from "@roundtrip/intake";
import { LatencyWindow, type Pacer, pace } from "./pace.ts";
import { visitorAddress } from "./visitors.ts";

export type PostbackLoadOptions = {
  /** Tracking URLs (`…/c/<code>`), used in turn. */
  clickUrls: string[];
  gatewayUrl: string;
  token: string;
  signingSecret: string;
  ratePerSecond: number;
  /** Share of postbacks sent twice (0–1). */
  duplicateShare: number;
  maxInFlight: number;
  timeoutMs: number;
  /** A journey gives up after this long. */
  journeyDeadlineMs: number;
  /** Unique per run: txids are `<txPrefix>-<n>`. */
  txPrefix: string;
  userAgent: string;
  /** Filled with when the gateway acknowledged each txid (ms epoch): the start of its end-to-end latency. */
  ackedAt: Map<string, number>;
};

export type PostbackCounts = {
  /** Clicks made for postbacks (they are redirects too). */
  clicks: number;
  accepted: number;
  /** Resent postbacks answered `duplicate: true`. */
  duplicates: number;
  /** Resent postbacks answered as new: a duplicate booked twice would follow. */
  duplicatesMissed: number;
  /** Requests that failed or timed out (each is sent again until the journey's deadline). */
  errors: number;
  /** Of those, clicks (a timed-out click may have been recorded all the same). */
  clickErrors: number;
  /** Journeys that gave up: no 200 before their deadline. */
  failed: number;
  skipped: number;
  lastError?: string;
};

const RETRY_PAUSE_MS = 500;

type Answer = { status: number; duplicate?: boolean };

export class PostbackLoad {
  readonly journeys: Journey[] = [];
  readonly latencies = new LatencyWindow();
  readonly counts: PostbackCounts = {
    clicks: 0,
    accepted: 0,
    duplicates: 0,
    duplicatesMissed: 0,
    errors: 0,
    clickErrors: 0,
    failed: 0,
    skipped: 0,
  };
  readonly #o: PostbackLoadOptions;
  #pacer: Pacer | undefined;

  constructor(options: PostbackLoadOptions) {
    this.#o = options;
  }

  start(): void {
    const resendEvery = this.#o.duplicateShare > 0 ? Math.round(1 / this.#o.duplicateShare) : 0;
    this.#pacer = pace(this.#o.ratePerSecond, this.#o.maxInFlight, (n) =>
      this.#journey(n, resendEvery > 0 && n % resendEvery === 0),
    );
  }

  async stop(): Promise<PostbackCounts> {
    await this.#pacer?.stop();
    this.counts.skipped = this.#pacer?.skipped ?? 0;
    return this.counts;
  }

  get skipped(): number {
    return this.#pacer?.skipped ?? 0;
  }

  async #journey(n: number, resend: boolean): Promise<void> {
    const o = this.#o;
    const journey: Journey = {
      n,
      txid: `${o.txPrefix}-${n}`,
      outcome: "pending",
      startedAt: Date.now(),
      clickTries: 0,
      postbackTries: 0,
    };
    this.journeys.push(journey);
    const deadline = journey.startedAt + o.journeyDeadlineMs;
    // A request that failed or timed out is sent again, as a browser or an advertiser would: a
    // postback that timed out may well have been committed, so only a 200 settles what is owed.
    while (!journey.clickId) {
      if (Date.now() > deadline) return this.#fail(journey, `no click: ${journey.lastError}`);
      journey.clickTries++;
      journey.clickId = await this.#click(n, journey).catch((err) => {
        this.counts.clickErrors++;
        return this.#retry(journey, err);
      });
    }
    this.counts.clicks++;
    while (journey.outcome === "pending") {
      if (Date.now() > deadline) return this.#fail(journey, `postback never 200: ${journey.lastError}`);
      const first = await this.#postback(journey, 0).catch((err) => this.#retry(journey, err));
      if (first?.status !== 200) {
        if (first) await this.#retry(journey, new Error(`postback ${first.status}`));
        continue;
      }
      journey.outcome = first.duplicate ? "duplicate" : "accepted";
      journey.ackedAt = Date.now();
      this.#o.ackedAt.set(journey.txid, journey.ackedAt);
      this.counts.accepted++;
    }
    if (!resend) return;
    // Signed one second earlier: the same request in the same second would be the same MAC,
    // which the replay store rightly refuses; an advertiser's retry signs afresh.
    const again = await this.#postback(journey, 1).catch((err) => this.#retry(journey, err));
    if (again?.status === 200 && again.duplicate) this.counts.duplicates++;
    else if (again?.status === 200) this.counts.duplicatesMissed++;
    else this.#error(`resent postback ${again?.status ?? journey.lastError}`);
  }

  async #retry(journey: Journey, err: Error): Promise<undefined> {
    journey.lastError = err.message;
    this.#error(err.message);
    await Bun.sleep(RETRY_PAUSE_MS);
    return undefined;
  }

  #fail(journey: Journey, why: string): void {
    journey.outcome = "failed";
    journey.lastError = why;
    this.counts.failed++;
  }

  #error(why: string): void {
    this.counts.errors++;
    this.counts.lastError = why;
  }

  async #click(n: number, journey: Journey): Promise<string> {
    const o = this.#o;
    const res = await fetch(
      `${o.clickUrls[n % o.clickUrls.length]}?sub1=${encodeURIComponent(journey.txid)}`,
      {
        redirect: "manual",
        headers: { "user-agent": o.userAgent, "x-forwarded-for": visitorAddress(n) },
        signal: AbortSignal.timeout(o.timeoutMs),
      },
    );
    await res.arrayBuffer();
    const location = res.headers.get("location");
    const clickId = location ? new URL(location).searchParams.get("cid") : null;
    if (res.status !== 302 || !clickId) throw new Error(`click ${res.status}`);
    return clickId;
  }

  async #postback(journey: Journey, secondsEarlier: number): Promise<Answer> {
    const o = this.#o;
    // The same postback the end-to-end tests send, signed over its path and query.
    const target = postbackUrl({ gatewayUrl: "", advertiserToken: o.token }, journey);
    const signature = signPostback(o.signingSecret, {
      method: "GET",
      target,
      timestamp: Math.floor(Date.now() / 1000) - secondsEarlier,
    });
    journey.postbackTries++;
    const began = performance.now();
    const res = await fetch(`${o.gatewayUrl}${target}`, {
      headers: { "x-roundtrip-signature": signature },
      signal: AbortSignal.timeout(o.timeoutMs),
    });
    const text = await res.text();
    this.latencies.push(performance.now() - began);
    if (res.status !== 200) return { status: res.status };
    return { status: 200, duplicate: (JSON.parse(text) as { duplicate?: boolean }).duplicate };
  }
}

/**
 * The decisions a postback goes through, in order, read from its trace: the gateway (token,
 * signature, parameters), the click ID, dedup, attribution, booking and the affiliate postback.
 * Each step is passed, failed, waiting (not reached yet) or skipped (nothing to do there, or an
 * earlier step ended the journey), with the reason in words — what the operator test tool shows
 * while it happens.
 */

export type StepName = "auth" | "click_id" | "dedup" | "attribution" | "booking" | "delivery";
export type StepState = "passed" | "failed" | "waiting" | "skipped";
export type Step = { step: StepName; title: string; state: StepState; detail: string };

// biome-ignore lint/suspicious/noExplicitAny: trace rows are untyped records
type Row = Record<string, any>;
/** The parts of a trace (trace/index.ts buildTrace) the steps read. */
export type TraceLike = {
  clicks: Row[];
  postback_requests: Row[];
  receipts: Row[];
  conversions: Row[];
};

const TITLES: Record<StepName, string> = {
  auth: "Gateway: token, signature and parameters",
  click_id: "Click ID",
  dedup: "Dedup",
  attribution: "Attribution",
  booking: "Booking (ledger)",
  delivery: "Affiliate postback",
};
const ORDER: StepName[] = ["auth", "click_id", "dedup", "attribution", "booking", "delivery"];

type Verdict = { state: StepState; detail: string };

/**
 * The steps for the postback with `txid` (the trace may hold other postbacks of the same click).
 * `hasTemplate`: whether the conversion's affiliate has an active postback template (null: unknown).
 */
export function decisionSteps(
  trace: TraceLike,
  txid: string,
  hasTemplate: boolean | null,
): { steps: Step[]; done: boolean } {
  const requests = trace.postback_requests
    .filter((l) => l.params && Object.values(l.params).includes(txid))
    .sort((a, b) => new Date(a.received_at).getTime() - new Date(b.received_at).getTime());
  const first = requests[0];
  const receipt = trace.receipts.find((r) => r.txid === txid);
  const verdicts: Partial<Record<StepName, Verdict>> = {};

  if (!first)
    verdicts.auth = { state: "waiting", detail: "no request with this txid reached the gateway yet" };
  else if (["unauthorized", "forbidden", "rate_limited"].includes(first.outcome))
    verdicts.auth = {
      state: "failed",
      detail: `${first.http_status} ${first.outcome}${first.reason ? `: ${first.reason}` : ""}`,
    };
  else if (first.outcome === "invalid" && !/click/i.test(first.reason ?? ""))
    verdicts.auth = {
      state: "failed",
      detail: `${first.http_status} invalid: ${first.reason ?? "bad parameters"}`,
    };
  else
    verdicts.auth = {
      state: "passed",
      detail: `${first.method} ${first.source}: credentials and parameters accepted`,
    };

  const click = trace.clicks[0];
  if (verdicts.auth.state === "passed") {
    if (
      first?.outcome === "unknown_click" ||
      (first?.outcome === "invalid" && /click/i.test(first.reason ?? ""))
    )
      verdicts.click_id = {
        state: "failed",
        detail: `${first.http_status} ${first.outcome}: ${first.reason ?? "unknown click"}`,
      };
    else if (click && String(click.id_check).startsWith("invalid"))
      verdicts.click_id = { state: "failed", detail: `the click ID is ${click.id_check}` };
    else if (click) {
      const link = click.link as Row | null;
      const whose = link
        ? ` — link ${link.code}, ${link.affiliate_name ?? `affiliate ${link.affiliate_id}`}, offer ${link.offer_name ?? link.offer_id}`
        : "";
      verdicts.click_id = {
        state: "passed",
        detail: `${click.id_check}${click.stored ? ", click stored" : ", click row not stored (yet): the ID alone credits"}${whose}`,
      };
    } else verdicts.click_id = { state: "waiting", detail: "no click ID in the trace yet" };
  }

  const duplicateAtGateway = first?.outcome === "duplicate";
  if (verdicts.click_id?.state === "passed") {
    if (duplicateAtGateway)
      verdicts.dedup = {
        state: "passed",
        detail: "a repeat of a postback already received: answered 200 duplicate, not booked again",
      };
    else if (receipt && String(receipt.decision).startsWith("duplicate"))
      verdicts.dedup = { state: "passed", detail: `not booked again: ${receipt.decision}` };
    else if (receipt)
      verdicts.dedup = { state: "passed", detail: `new: receipt ${receipt.id} (${receipt.event})` };
    else verdicts.dedup = { state: "waiting", detail: "the receipt is not in the trace yet" };
  }
  const duplicate = duplicateAtGateway || String(receipt?.decision ?? "").startsWith("duplicate");

  if (verdicts.dedup?.state === "passed" && !duplicate && receipt) {
    const decision = String(receipt.decision);
    if (decision.startsWith("rejected")) verdicts.attribution = { state: "failed", detail: decision };
    else if (decision.startsWith("accepted at the gateway"))
      verdicts.attribution = { state: "waiting", detail: decision };
    else verdicts.attribution = { state: "passed", detail: decision };
  }

  const conversion = trace.conversions.find((c) => c.id === receipt?.conversion_id);
  if (verdicts.attribution?.state === "passed" && conversion) {
    const blocked = conversion.commission_blocked as Row | null;
    const entries = (conversion.ledger as Row[]) ?? [];
    const capped = conversion.cap_blocked as Row | null;
    const review = conversion.review as Row | null;
    if (conversion.is_test)
      verdicts.booking = {
        state: "skipped",
        detail:
          "test traffic (a test affiliate): recorded by commission, never priced, no affiliate postback",
      };
    else if (capped)
      verdicts.booking = { state: "failed", detail: `held back (${capped.reason}): ${capped.message}` };
    else if (review && review.state === "held")
      verdicts.booking = {
        state: "failed",
        detail: `held for review (${(review.reasons as string[]).join(", ")}): decided in the review queue`,
      };
    else if (blocked)
      verdicts.booking = {
        state: "failed",
        detail: `blocked (${blocked.reason}): ${blocked.message}; it books itself once fixed`,
      };
    else if (entries.length)
      verdicts.booking = {
        state: "passed",
        detail: entries.map((e) => `${e.type} ${e.payout} ${String(e.currency).trim()}`).join(", "),
      };
    else if (conversion.status === "rejected")
      verdicts.booking = { state: "skipped", detail: "the conversion is rejected: nothing to book" };
    else
      verdicts.booking = {
        state: "waiting",
        detail: `conversion ${conversion.id} (${conversion.status}) not booked yet`,
      };
  }

  if (verdicts.booking?.state === "passed" && conversion) {
    const deliveries = (conversion.deliveries as Row[]) ?? [];
    const delivered = deliveries.find((d) => d.status === "delivered");
    const broken = deliveries.find((d) => d.status === "failed" || d.status === "dead");
    const pending = deliveries.find((d) => d.status === "pending");
    const lastAttempt = (d: Row) => (d.attempts as Row[])?.at(-1);
    if (delivered) {
      const a = lastAttempt(delivered);
      verdicts.delivery = {
        state: "passed",
        detail: `delivered to ${delivered.url}${a ? `: ${a.status_code} in ${a.latency_ms} ms` : ""}`,
      };
    } else if (broken)
      verdicts.delivery = {
        state: "failed",
        detail: `${broken.status}: ${broken.last_error ?? `answered ${broken.last_status_code}`}`,
      };
    else if (pending)
      verdicts.delivery = {
        state: "waiting",
        detail: pending.attempts?.length
          ? `retrying: attempt ${pending.attempts.length} ${pending.last_error ?? `answered ${pending.last_status_code}`}`
          : "queued for the sender",
      };
    else if (hasTemplate === false)
      verdicts.delivery = { state: "skipped", detail: "the affiliate has no active postback template" };
    else verdicts.delivery = { state: "waiting", detail: "not planned yet" };
  }

  // Past a failure, or past a duplicate, nothing more happens to this postback.
  let ended: string | null = null;
  const steps = ORDER.map((step): Step => {
    const v = verdicts[step];
    if (v) {
      if (v.state === "failed") ended ??= "an earlier step failed";
      if (v.state === "skipped") ended ??= v.detail;
      return { step, title: TITLES[step], ...v };
    }
    if (duplicate && verdicts.dedup && ["attribution", "booking", "delivery"].includes(step))
      return { step, title: TITLES[step], state: "skipped", detail: "a duplicate changes nothing" };
    if (ended) return { step, title: TITLES[step], state: "skipped", detail: ended };
    return { step, title: TITLES[step], state: "waiting", detail: "waiting for the step before" };
  });
  return { steps, done: steps.every((s) => s.state !== "waiting") };
}

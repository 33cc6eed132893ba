import type { Bus } from "@roundtrip/bus";
import type { ClickIdCodec } from "@roundtrip/clickid";
import type { Sql } from "@roundtrip/db";
import type { Logger } from "@roundtrip/telemetry";
import { announce, audit } from "../../changes.ts";

export type RunnerDeps = {
  sql: Sql;
  bus: Bus;
  codec: ClickIdCodec | null;
  /** Where the runner reaches the click and gateway services (internal or public URLs). */
  clickUrl: string;
  gatewayUrl: string;
  logger: Logger;
};

export type RunSettings = {
  offer_id: string;
  affiliates: number;
  registration_event?: string;
  deposit_event?: string;
  deposit_amount: string;
  /** The query parameter the advertiser's landing page reads the click ID from; derived from the offer when absent. */
  landing_click_id_param?: string;
  /** How long to wait for attribution to credit the test conversions. */
  wait_ms: number;
};

export type Check = {
  name: string;
  title: string;
  status: "pass" | "fail" | "skipped";
  detail: string;
  affiliate?: number;
};

/** The guides' threshold: below 98 % of test postbacks tracked, do not launch. */
export const LAUNCH_SUCCESS_RATE = 0.98;
const REQUEST_TIMEOUT_MS = 10_000;
const DAY_MS = 86_400_000;

type Offer = {
  id: string;
  name: string;
  status: string;
  destination_url: string;
  click_id_param: string;
  currency: string;
  advertiser_id: string;
  token_hash: string | null;
  advertiser_status: string;
};
type Event = { code: string; window_days: number; default_status: string };
type Visitor = { affiliate: number; affiliateId: string; code: string; clickId: string | null };

/**
 * The pre-launch protocol of the S2S guides, executed against the live stack through the real
 * click and gateway endpoints, as the advertiser would: test affiliates with distinct links,
 * click → registration → deposit for each, a duplicate postback, a visitor who clicked two
 * affiliates' links, an expired click, a bad token and a forged click ID, then every expected
 * conversion checked in attribution (right affiliate, event and amount). Checks are written to
 * the run as they finish, so a client can watch it progress.
 *
 * The test affiliates are flagged `is_test` (reports and payouts skip them, and conversions
 * inherit the flag) and their links are paused at the end.
 */
export async function runValidation(
  deps: RunnerDeps,
  runId: string,
  settings: RunSettings,
  token: string,
  actor: string,
  shouldStop: () => boolean,
): Promise<void> {
  const { sql } = deps;
  const checks: Check[] = [];
  let sent = 0;
  let ok = 0;
  let accepted = 0;
  const save = async (status: "passed" | "failed" | "error", error: string | null = null) => {
    await sql`
      update validation_runs set checks = ${sql.json(checks as never)}, postbacks_sent = ${sent}, postbacks_ok = ${ok},
        status = ${status}, error = ${error}, finished_at = now(),
        postback_success_rate = ${sent > 0 ? (ok / sent).toFixed(4) : null}
      where id = ${runId}`;
  };
  const record = async (check: Check) => {
    checks.push(check);
    await sql`update validation_runs set checks = ${sql.json(checks as never)} where id = ${runId}`;
  };
  const stopIfAsked = () => {
    if (shouldStop()) throw new Error("interrupted: admin is shutting down");
  };
  let linkIds: string[] = [];

  try {
    // 1. The offer, its events and its advertiser.
    const [offer] = await sql<Offer[]>`
      select o.id, o.name, o.status, o.destination_url, o.click_id_param, o.currency, o.advertiser_id,
             a.token_hash, a.status as advertiser_status
      from offers o join advertisers a on a.id = o.advertiser_id where o.id = ${settings.offer_id}`;
    if (!offer) throw new Error("the offer does not exist");
    const events = await sql<
      Event[]
    >`select code, window_days, default_status from offer_events where offer_id = ${offer.id} order by code`;
    const codes = events.map((e) => e.code);
    const registration =
      settings.registration_event ?? (codes.includes("registration") ? "registration" : codes[0]);
    const deposit =
      settings.deposit_event ??
      ["ftd", "deposit", "sale"].find((c) => codes.includes(c)) ??
      codes.find((c) => c !== registration);
    const problems: string[] = [];
    if (offer.status !== "active") problems.push("the offer is paused");
    if (offer.advertiser_status !== "active") problems.push("the advertiser is paused");
    if (!registration || !codes.includes(registration))
      problems.push(`the offer has no event ${registration ?? "for registration"}`);
    if (!deposit || !codes.includes(deposit))
      problems.push(`the offer has no event ${deposit ?? "for deposits"}`);
    if (offer.token_hash === null) problems.push("the advertiser accepts postbacks without a token");
    await record({
      name: "offer_configured",
      title: "Offer, events and advertiser are ready",
      status: problems.length ? "fail" : "pass",
      detail: problems.length
        ? problems.join("; ")
        : `events ${registration} and ${deposit}, currency ${offer.currency.trim()}`,
    });
    if (problems.length || !registration || !deposit) return await finish("failed");
    const regEvent = events.find((e) => e.code === registration) as Event;

    // 2. Test affiliates with distinct links, flagged as test traffic.
    const created = await sql.begin(async (tx) => {
      const out: { affiliateId: string; linkId: string; code: string }[] = [];
      for (let k = 1; k <= settings.affiliates; k++) {
        const [affiliate] = await tx<{ id: string }[]>`
          insert into affiliates (name, payout_currency, is_test)
          values (${`Validation run ${runId} · test affiliate ${k}`}, ${offer.currency.trim()}, true) returning id`;
        const code = `vr${runId}-${k}-${Buffer.from(crypto.getRandomValues(new Uint8Array(4))).toString("hex")}`;
        const [link] = await tx<{ id: string }[]>`
          insert into links (code, offer_id, affiliate_id) values (${code}, ${offer.id}, ${affiliate?.id as string}) returning id`;
        out.push({ affiliateId: affiliate?.id as string, linkId: link?.id as string, code });
        await audit(tx, {
          actor,
          action: "create",
          resource: "affiliates",
          id: affiliate?.id as string,
          after: { validation_run: runId, is_test: true },
        });
      }
      await tx`update validation_runs set affiliate_ids = ${created_ids(out)}::bigint[] where id = ${runId}`;
      return out;
    });
    linkIds = created.map((c) => c.linkId);
    await announce(deps.bus, "links", null);
    await record({
      name: "test_affiliates",
      title: `${settings.affiliates} test affiliates with distinct links`,
      status: new Set(created.map((c) => c.code)).size === settings.affiliates ? "pass" : "fail",
      detail: created.map((c) => `/c/${c.code}`).join(", "),
    });

    // 3. The click service serves the new links (it follows admin changes within a second).
    const live = await eventually(
      shouldStop,
      async () => {
        for (const c of created) {
          const res = await fetchWithTimeout(`${deps.clickUrl}/c/${c.code}`, {
            method: "HEAD",
            redirect: "manual",
          });
          if (res.status !== 302) return false;
        }
        return true;
      },
      10_000,
    );
    await record({
      name: "links_live",
      title: "The click service redirects every test link",
      status: live ? "pass" : "fail",
      detail: live ? "302 for every link" : "a test link did not redirect within 10 s",
    });
    if (!live) return await finish("failed");
    stopIfAsked();

    const param = settings.landing_click_id_param ?? clickIdParamOf(offer);
    const destination = safeUrl(offer.destination_url.replace(/\{[a-z0-9_]+\}/g, "x"));
    const click = async (code: string, visitor: string, subs: Record<string, string> = {}) => {
      const res = await fetchWithTimeout(`${deps.clickUrl}/c/${code}?${new URLSearchParams(subs)}`, {
        redirect: "manual",
        headers: { "user-agent": `RoundtripValidation/1.0 (${visitor})` },
      });
      const location = res.headers.get("location");
      const landing = location ? safeUrl(location) : null;
      return { status: res.status, landing, clickId: landing?.searchParams.get(param) || null };
    };
    const postback = async (params: Record<string, string>) => {
      const res = await fetchWithTimeout(`${deps.gatewayUrl}/postback?${new URLSearchParams(params)}`);
      const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      return { status: res.status, body };
    };
    const txid = (suffix: string) => `vr${runId}-${suffix}`;

    // 4. click → registration → deposit for every test affiliate.
    const visitors: Visitor[] = [];
    for (const [i, c] of created.entries()) {
      const k = i + 1;
      const r = await click(c.code, `visitor ${k}`, { sub1: `validation-${runId}`, sub2: `affiliate-${k}` });
      const sameSite = r.landing && destination ? r.landing.host === destination.host : false;
      await record({
        name: "click_redirect",
        title: "The click lands on the offer with the click ID the advertiser reads",
        affiliate: k,
        status: r.status === 302 && sameSite && r.clickId ? "pass" : "fail",
        detail:
          r.status !== 302
            ? `the tracking link answered ${r.status}`
            : !sameSite
              ? `redirected to ${r.landing?.host ?? "nowhere"}, not the offer's ${destination?.host ?? "?"}`
              : r.clickId
                ? `${param}=${r.clickId}`
                : `the landing URL has no ${param} parameter: the advertiser cannot store the click ID (${r.landing?.toString()})`,
      });
      visitors.push({ affiliate: k, affiliateId: c.affiliateId, code: c.code, clickId: r.clickId });
      sent += 2;
      if (!r.clickId) continue;
      const reg = await postback({ click_id: r.clickId, txid: txid(`${k}-reg`), event: registration, token });
      const dep = await postback({
        click_id: r.clickId,
        txid: txid(`${k}-dep`),
        event: deposit,
        amount: settings.deposit_amount,
        currency: offer.currency.trim(),
        token,
      });
      const answered = [reg, dep].every((p) => p.status === 200 && p.body.duplicate === false);
      accepted += [reg, dep].filter((p) => p.status === 200).length;
      await record({
        name: "postbacks_accepted",
        title: `Registration and deposit postbacks answer 200`,
        affiliate: k,
        status: answered ? "pass" : "fail",
        detail: `registration → ${describe(reg)}; deposit → ${describe(dep)}`,
      });
    }
    stopIfAsked();

    // 5. A retried postback is a duplicate, never a second conversion.
    const first = visitors.find((v) => v.clickId);
    if (first?.clickId) {
      const retries = await Promise.all(
        Array.from({ length: 3 }, () =>
          postback({
            click_id: first.clickId as string,
            txid: txid(`${first.affiliate}-dep`),
            event: deposit,
            amount: settings.deposit_amount,
            currency: offer.currency.trim(),
            token,
          }),
        ),
      );
      const allDuplicate = retries.every((r) => r.status === 200 && r.body.duplicate === true);
      await record({
        name: "duplicate_postback",
        title: "Duplicate postbacks answer 200 with duplicate: true",
        status: allDuplicate ? "pass" : "fail",
        detail: retries.map(describe).join("; "),
      });
    } else {
      await record({
        name: "duplicate_postback",
        title: "Duplicate postbacks answer 200 with duplicate: true",
        status: "skipped",
        detail: "no click ID to repeat",
      });
    }

    // 6. One visitor, two affiliates' links: the click ID in the postback decides.
    let multi: { clickId: string; affiliateId: string } | null = null;
    if (created.length >= 2) {
      const a = await click((created[0] as { code: string }).code, "multi-touch visitor");
      const b = await click((created[1] as { code: string }).code, "multi-touch visitor");
      sent += 1;
      if (a.clickId && b.clickId) {
        const res = await postback({
          click_id: b.clickId,
          txid: txid("multi-reg"),
          event: registration,
          token,
        });
        multi = { clickId: b.clickId, affiliateId: (created[1] as { affiliateId: string }).affiliateId };
        if (res.status !== 200) multi = null;
        else accepted += 1;
        await record({
          name: "multi_affiliate_visitor_sent",
          title: "A visitor who clicked two affiliates' links: postback with the last click ID",
          status: res.status === 200 ? "pass" : "fail",
          detail: describe(res),
        });
      } else {
        await record({
          name: "multi_affiliate_visitor_sent",
          title: "A visitor who clicked two affiliates' links: postback with the last click ID",
          status: "fail",
          detail: "the landing URL carried no click ID",
        });
      }
    }

    // 7. An expired click: accepted at the door, refused by attribution as outside the window.
    let expiredReceipt: string | null = null;
    if (deps.codec) {
      const oldClick = deps.codec.mint(
        Number(created[0]?.linkId),
        new Date(Date.now() - (regEvent.window_days + 1) * DAY_MS),
      );
      const res = await postback({ click_id: oldClick, txid: txid("expired"), event: registration, token });
      expiredReceipt = res.status === 200 ? String(res.body.receipt_id ?? "") || null : null;
      if (!expiredReceipt) {
        await record({
          name: "expired_click",
          title: `A click older than the ${regEvent.window_days}-day window is not credited`,
          status: "fail",
          detail: `the gateway answered ${describe(res)}`,
        });
      }
    } else {
      await record({
        name: "expired_click",
        title: "A click older than the window is not credited",
        status: "skipped",
        detail: "admin has no CLICK_ID_KEYS, so it cannot mint an old click ID",
      });
    }

    // 8. A bad token and a forged click ID are refused before anything is booked.
    const anyClick = first?.clickId ?? (deps.codec ? deps.codec.mint(Number(created[0]?.linkId)) : null);
    if (anyClick) {
      const bad = await postback({
        click_id: anyClick,
        txid: txid("bad-token"),
        event: registration,
        token: `wrong-${crypto.randomUUID()}`,
      });
      await record({
        name: "bad_token",
        title: "A postback with a wrong token is refused (401)",
        status: bad.status === 401 ? "pass" : "fail",
        detail: describe(bad),
      });
      const forged = `${anyClick.slice(0, -3)}${anyClick.endsWith("AAA") ? "BBB" : "AAA"}`;
      const f = await postback({ click_id: forged, txid: txid("forged"), event: registration, token });
      await record({
        name: "forged_click_id",
        title: "A forged click ID is refused (422)",
        status: f.status === 422 ? "pass" : "fail",
        detail: describe(f),
      });
    }
    stopIfAsked();

    // 9. Attribution credited every test conversion to the right affiliate with the right data.
    // Wait for as many conversions as the gateway accepted postbacks (refused ones never arrive).
    const expected = accepted;
    const prefix = `vr${runId}-`;
    const load = () =>
      sql<
        {
          txid: string;
          affiliate_id: string;
          event: string;
          amount: string | null;
          currency: string;
          status: string;
          is_test: boolean;
        }[]
      >`
        select txid, affiliate_id, event, amount::text, currency, status, is_test from conversions
        where advertiser_id = ${offer.advertiser_id} and txid like ${`${prefix}%`}`;
    const expiredDone = async () =>
      !expiredReceipt ||
      (
        await sql`select 1 from attribution_rejections where receipt_id = ${expiredReceipt}
                 union all select 1 from conversions where receipt_id = ${expiredReceipt}`
      ).length > 0;
    let rows = await load();
    await eventually(
      shouldStop,
      async () => {
        rows = await load();
        return rows.length >= expected && (await expiredDone());
      },
      settings.wait_ms,
    );
    const byTxid = new Map(rows.map((r) => [r.txid, r]));
    for (const v of visitors) {
      if (!v.clickId) continue;
      const reg = byTxid.get(txid(`${v.affiliate}-reg`));
      const dep = byTxid.get(txid(`${v.affiliate}-dep`));
      const regOk = reg?.affiliate_id === v.affiliateId && reg.event === registration;
      const depOk =
        dep?.affiliate_id === v.affiliateId &&
        dep.event === deposit &&
        dep.amount !== null &&
        Number(dep.amount) === Number(settings.deposit_amount) &&
        dep.currency.trim() === offer.currency.trim();
      ok += (regOk ? 1 : 0) + (depOk ? 1 : 0);
      await record({
        name: "attributed",
        title: "Each conversion is credited to its affiliate with the right event and amount",
        affiliate: v.affiliate,
        status: regOk && depOk ? "pass" : "fail",
        detail: [
          reg ? `registration → affiliate ${reg.affiliate_id} (${reg.status})` : "registration not credited",
          dep
            ? `deposit ${dep.amount} ${dep.currency.trim()} → affiliate ${dep.affiliate_id} (${dep.status})`
            : "deposit not credited",
        ].join("; "),
      });
    }
    if (created.length >= 2) {
      const m = byTxid.get(txid("multi-reg"));
      const multiOk = Boolean(multi && m?.affiliate_id === multi.affiliateId);
      if (multiOk) ok += 1;
      await record({
        name: "multi_affiliate_visitor",
        title: "The multi-touch visitor's conversion goes to the affiliate whose click ID came back",
        status: multiOk ? "pass" : "fail",
        detail: m
          ? `credited to affiliate ${m.affiliate_id} (expected ${multi?.affiliateId})`
          : "not credited",
      });
    }
    if (expiredReceipt) {
      const [rejection] =
        await sql`select reason from attribution_rejections where receipt_id = ${expiredReceipt}`;
      const credited = byTxid.get(txid("expired"));
      await record({
        name: "expired_click",
        title: `A click older than the ${regEvent.window_days}-day window is not credited`,
        status: !credited && rejection?.reason === "outside_window" ? "pass" : "fail",
        detail: credited
          ? "it was credited"
          : rejection
            ? `rejected: ${rejection.reason}`
            : "no decision from attribution yet",
      });
    }
    const flagged = rows.every((r) => r.is_test);
    await record({
      name: "test_traffic_flagged",
      title: "Test conversions are flagged and kept out of reports and payouts",
      status: flagged ? "pass" : "fail",
      detail: flagged ? `${rows.length} conversions flagged is_test` : "a test conversion is not flagged",
    });

    const rate = sent > 0 ? ok / sent : 0;
    await record({
      name: "postback_success_rate",
      title: `Postback success rate ≥ ${LAUNCH_SUCCESS_RATE * 100} %`,
      status: rate >= LAUNCH_SUCCESS_RATE ? "pass" : "fail",
      detail: `${ok} of ${sent} test postbacks tracked (${(rate * 100).toFixed(1)} %)`,
    });
    const failed = checks.some((c) => c.status === "fail");
    await finish(failed ? "failed" : "passed");
  } catch (err) {
    deps.logger.warn("validation run failed to complete", { run_id: runId, error: err as Error });
    await save("error", (err as Error).message).catch((e) =>
      deps.logger.error("validation run not saved", { run_id: runId, error: e as Error }),
    );
  } finally {
    if (linkIds.length) {
      await sql`update links set status = 'paused' where id in ${sql(linkIds)}`.catch(() => {});
      await announce(deps.bus, "links", null).catch(() => {});
    }
  }

  async function finish(status: "passed" | "failed") {
    await save(status);
  }
}

function created_ids(rows: { affiliateId: string }[]): string {
  return `{${rows.map((r) => r.affiliateId).join(",")}}`;
}

/** The query parameter that carries the click ID in the offer's landing URL. */
export function clickIdParamOf(offer: { destination_url: string; click_id_param: string }): string {
  const query = offer.destination_url.split("?")[1]?.split("#")[0] ?? "";
  for (const pair of query.split("&")) {
    const [name, value] = pair.split("=");
    if (name && value?.includes("{click_id}")) return decodeURIComponent(name);
  }
  return offer.click_id_param;
}

function safeUrl(s: string): URL | null {
  try {
    return new URL(s);
  } catch {
    return null;
  }
}

function describe(r: { status: number; body: Record<string, unknown> }): string {
  const err = r.body.error as { code?: string; message?: string } | undefined;
  if (err) return `${r.status} ${err.code ?? ""}: ${err.message ?? ""}`.trim();
  return `${r.status}${r.body.duplicate === true ? " duplicate" : r.body.duplicate === false ? " accepted" : ""}`;
}

async function fetchWithTimeout(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
}

async function eventually(
  stop: () => boolean,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (stop()) throw new Error("interrupted: admin is shutting down");
    try {
      if (await check()) return true;
    } catch {
      // the service may still be starting; keep trying until the deadline
    }
    if (Date.now() > deadline) return false;
    await Bun.sleep(250);
  }
}

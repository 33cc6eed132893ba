import { type ClickRecorded, type ClicksRecorded, REASON, type Reason } from "@roundtrip/contracts";
import { decideUniqueVisits, type Sql, type Tx } from "@roundtrip/db";
import { ipReasons, listKinds } from "./ip-lists.ts";
import { loadRuleBook, type RuleBook } from "./settings.ts";

type Scope = "ip" | "sub" | "link";
const FLOOD: Record<Scope, Reason> = {
  ip: REASON.clickFloodIp,
  sub: REASON.clickFloodSub,
  link: REASON.clickFloodLink,
};

/** Clicks flagged in a batch, by click ID: the reasons added to those the click service gave. */
export type ClickFlags = Map<string, Reason[]>;

/**
 * Judges CLICKS messages once for every consumer: click floods (clicks per minute per IP, per
 * affiliate + sub1, per link, over the offer's threshold) and the operator's IP lists. Counting
 * happens here, on the consumer side, because it must see every click replica's clicks.
 *
 * Each message's verdict is kept under its first click ID (which names the message). The first
 * consumer to judge a message claims it, counts it and records what it flagged; any other
 * consumer judging the same message waits for that commit and reads the same verdict, so
 * attribution's click rows and admin's report rollup agree, and a click is counted towards a
 * flood once. Messages are claimed in key order, so two consumers claiming overlapping sets
 * wait for each other instead of deadlocking.
 *
 * Returns the flagged clicks' reasons by click ID (apply them with `applyFlags`).
 */
export async function judgeBatches(tx: Tx, batches: readonly ClicksRecorded[]): Promise<ClickFlags> {
  const byKey = new Map<string, ClicksRecorded>();
  for (const b of batches) {
    const first = b.clicks[0];
    if (first) byKey.set(first.click_id, b);
  }
  if (byKey.size === 0) return new Map();
  const keys = [...byKey.keys()].sort();
  const claimed = (
    await tx<{ batch_key: string }[]>`
      insert into click_judged_batches (batch_key)
      select k from unnest(${tx.array(keys)}::text[]) as k order by k
      on conflict do nothing returning batch_key`
  ).map((r) => r.batch_key);
  const flags = claimed.length
    ? await judge(
        tx,
        claimed.map((k) => [k, byKey.get(k) as ClicksRecorded]),
      )
    : new Map();
  if (claimed.length < keys.length) {
    const mine = new Set(claimed);
    for (const [id, reasons] of await verdictOf(
      tx,
      keys.filter((k) => !mine.has(k)),
    ))
      flags.set(id, reasons);
  }
  return flags;
}

/** CLICKS messages as every click consumer stores and counts them, with what the rules flagged. */
export type JudgedClicks = {
  /** The messages in the order given: flags applied, unique vs. repeat decided for the cluster. */
  batches: ClicksRecorded[];
  flags: ClickFlags;
};

/**
 * Everything the click consumers must agree on, decided once in a short transaction of its own
 * and committed before the caller's long store-and-roll-up one: flood verdicts (`judgeBatches`)
 * and then, for the clicks not flagged, unique vs. repeat (`decideUniqueVisits`). Both touch the
 * hottest rows of the click path — every click of a link touches the link's minute counter, the
 * second consumer to see a new visitor waits for the first one's window row — and a row lock
 * lasts until commit: taken inside the long transactions, every other click consumer queued behind
 * them (about 60 messages a second in all); alone, each holds them for a few statements. A crash
 * after this commit and before the caller's only leaves the decisions recorded: the redelivery
 * reads them back, counting nothing twice.
 */
export function judgeClickBatches(sql: Sql, batches: readonly ClicksRecorded[]): Promise<JudgedClicks> {
  return sql.begin(async (tx) => {
    const flags = await judgeBatches(tx, batches);
    const flagged = batches.map((b) => applyFlags(b, flags));
    const decided = await decideUniqueVisits(
      tx,
      flagged.flatMap((b) => b.clicks),
    );
    let at = 0;
    const judged = flagged.map((b) => {
      at += b.clicks.length;
      return { clicks: decided.slice(at - b.clicks.length, at) };
    });
    return { batches: judged, flags };
  });
}

/** One message judged inside the caller's transaction, with the verdict applied (tests, tools). */
export async function judgeClicks(
  tx: Tx,
  batch: ClicksRecorded,
): Promise<{ batch: ClicksRecorded; flags: ClickFlags }> {
  const flags = await judgeBatches(tx, [batch]);
  return { batch: applyFlags(batch, flags), flags };
}

async function verdictOf(tx: Tx, batchKeys: string[]): Promise<ClickFlags> {
  const rows = await tx<{ click_id: string; reasons: Reason[] }[]>`
    select click_id, reasons from click_flags where batch_key = any(${tx.array(batchKeys)}::text[])`;
  return new Map(rows.map((r) => [r.click_id, r.reasons]));
}

/** The batch with each flagged click's reasons appended and `is_unique` false. */
export function applyFlags(batch: ClicksRecorded, flags: ClickFlags): ClicksRecorded {
  if (flags.size === 0) return batch;
  return {
    clicks: batch.clicks.map((c) => {
      const added = flags.get(c.click_id);
      if (!added) return c;
      return { ...c, is_unique: false, reasons: [...new Set([...(c.reasons ?? []), ...added])] };
    }),
  };
}

/** Counts and flags the claimed messages together: one rule book, one IP-list lookup, one upsert. */
async function judge(tx: Tx, claimed: [string, ClicksRecorded][]): Promise<ClickFlags> {
  const clicks = claimed.flatMap(([, b]) => b.clicks);
  const batchOf = new Map<string, string>();
  for (const [key, b] of claimed) for (const c of b.clicks) batchOf.set(c.click_id, key);
  const rules = await loadRuleBook(tx, [...new Set(clicks.map((c) => c.offer_id))]);
  const kinds = await listKinds(
    tx,
    clicks.map((c) => c.ip ?? ""),
  );
  const flags: ClickFlags = new Map();
  const flag = (c: ClickRecorded, reason: Reason) => {
    const list = flags.get(c.click_id) ?? [];
    if (!list.includes(reason)) list.push(reason);
    flags.set(c.click_id, list);
  };
  const exempt = (c: ClickRecorded) => (c.ip ? (kinds.get(c.ip)?.has("allow") ?? false) : false);

  for (const c of clicks) {
    for (const reason of ipReasons(c.ip ? kinds.get(c.ip) : undefined))
      if (rules.active(c.offer_id, reason)) flag(c, reason);
  }
  for (const [c, reason] of await floods(tx, clicks, rules, exempt)) flag(c, reason);

  if (flags.size > 0) {
    const rows = [...flags].map(([click_id, reasons]) => ({
      batch_key: batchOf.get(click_id),
      click_id,
      reasons,
    }));
    await tx`
      insert into click_flags (batch_key, click_id, reasons)
      select batch_key, click_id, reasons from json_populate_recordset(null::click_flags, ${JSON.stringify(rows)}::text::json)`;
  }
  return flags;
}

type Group = { scope: Scope; key: string; minute: string; clicks: ClickRecorded[] };

/**
 * Adds the clicks to the per-minute counters and returns the clicks beyond their offer's
 * threshold: the n-th click of a minute is flagged when n > threshold (so exactly `threshold`
 * clicks a minute pass). Clicks judged together count in time order.
 */
async function floods(
  tx: Tx,
  clicks: readonly ClickRecorded[],
  rules: RuleBook,
  exempt: (c: ClickRecorded) => boolean,
): Promise<[ClickRecorded, Reason][]> {
  const groups = new Map<string, Group>();
  const add = (scope: Scope, key: string, c: ClickRecorded) => {
    const minute = `${c.clicked_at.slice(0, 16)}:00Z`;
    const k = `${scope}\u0000${key}\u0000${minute}`;
    const g = groups.get(k) ?? { scope, key, minute, clicks: [] };
    g.clicks.push(c);
    groups.set(k, g);
  };
  const sorted = [...clicks].sort((a, b) => a.clicked_at.localeCompare(b.clicked_at));
  for (const c of sorted) {
    if (c.ip && !exempt(c)) add("ip", c.ip, c);
    add("sub", `${c.affiliate_id}|${c.subs?.sub1 ?? ""}`, c);
    add("link", c.link_id, c);
  }
  if (groups.size === 0) return [];
  // In key order, so concurrent batches take the counter rows' locks in the same order.
  const list = [...groups.values()].sort((a, b) =>
    a.scope === b.scope
      ? a.key === b.key
        ? a.minute.localeCompare(b.minute)
        : a.key < b.key
          ? -1
          : 1
      : a.scope < b.scope
        ? -1
        : 1,
  );
  const rows = list.map((g) => ({ scope: g.scope, key: g.key, minute: g.minute, clicks: g.clicks.length }));
  const totals = await tx<{ i: number; clicks: number }[]>`
    with input as (
      select (v.o - 1)::int as i, v.scope, v.key, v.minute, v.clicks
      from json_populate_recordset(null::click_velocity, ${JSON.stringify(rows)}::text::json)
        with ordinality as v(scope, key, minute, clicks, o)
    ), upserted as (
      insert into click_velocity (scope, key, minute, clicks)
      select scope, key, minute, clicks from input order by i
      on conflict (scope, key, minute) do update set clicks = click_velocity.clicks + excluded.clicks
      returning scope, key, minute, clicks
    )
    select input.i, u.clicks from upserted u join input using (scope, key, minute)`;
  const out: [ClickRecorded, Reason][] = [];
  for (const t of totals) {
    const g = list[t.i] as Group;
    const before = t.clicks - g.clicks.length;
    const reason = FLOOD[g.scope];
    g.clicks.forEach((c, n) => {
      const threshold = rules.active(c.offer_id, reason)?.threshold;
      if (threshold && before + n + 1 > threshold) out.push([c, reason]);
    });
  }
  return out;
}

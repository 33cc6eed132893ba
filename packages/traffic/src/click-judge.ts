import { type ClickRecorded, type ClicksRecorded, REASON, type Reason } from "@roundtrip/contracts";
import type { Tx } from "@roundtrip/db";
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
 * Judges a CLICKS batch once for every consumer: click floods (clicks per minute per IP, per
 * affiliate + sub1, per link, over the offer's threshold) and the operator's IP lists. Counting
 * happens here, on the consumer side, because it must see every click replica's clicks.
 *
 * The first consumer to judge a batch (keyed by its first click ID, which names the batch)
 * counts it and records what it flagged, in its own transaction; any other consumer that judges
 * the same batch waits for that commit and reads the same verdict, so attribution's click rows
 * and admin's report rollup agree, and a click is counted towards a flood once.
 *
 * Returns the batch with each flagged click's reasons appended and `is_unique` false.
 */
export async function judgeClicks(
  tx: Tx,
  batch: ClicksRecorded,
): Promise<{ batch: ClicksRecorded; flags: ClickFlags }> {
  const first = batch.clicks[0];
  if (!first) return { batch, flags: new Map() };
  const batchKey = first.click_id;
  const [claimed] = await tx`
    insert into click_judged_batches (batch_key) values (${batchKey}) on conflict do nothing returning 1 as ok`;
  const flags = claimed ? await judge(tx, batchKey, batch) : await verdictOf(tx, batchKey);
  return { batch: applyFlags(batch, flags), flags };
}

async function verdictOf(tx: Tx, batchKey: string): Promise<ClickFlags> {
  const rows = await tx<{ click_id: string; reasons: Reason[] }[]>`
    select click_id, reasons from click_flags where batch_key = ${batchKey}`;
  return new Map(rows.map((r) => [r.click_id, r.reasons]));
}

function applyFlags(batch: ClicksRecorded, flags: ClickFlags): ClicksRecorded {
  if (flags.size === 0) return batch;
  return {
    clicks: batch.clicks.map((c) => {
      const added = flags.get(c.click_id);
      if (!added) return c;
      return { ...c, is_unique: false, reasons: [...new Set([...(c.reasons ?? []), ...added])] };
    }),
  };
}

async function judge(tx: Tx, batchKey: string, batch: ClicksRecorded): Promise<ClickFlags> {
  const rules = await loadRuleBook(tx, [...new Set(batch.clicks.map((c) => c.offer_id))]);
  const kinds = await listKinds(
    tx,
    batch.clicks.map((c) => c.ip ?? ""),
  );
  const flags: ClickFlags = new Map();
  const flag = (c: ClickRecorded, reason: Reason) => {
    const list = flags.get(c.click_id) ?? [];
    if (!list.includes(reason)) list.push(reason);
    flags.set(c.click_id, list);
  };
  const exempt = (c: ClickRecorded) => (c.ip ? (kinds.get(c.ip)?.has("allow") ?? false) : false);

  for (const c of batch.clicks) {
    for (const reason of ipReasons(c.ip ? kinds.get(c.ip) : undefined))
      if (rules.active(c.offer_id, reason)) flag(c, reason);
  }
  for (const [c, reason] of await floods(tx, batch, rules, exempt)) flag(c, reason);

  if (flags.size > 0) {
    const rows = [...flags].map(([click_id, reasons]) => ({ batch_key: batchKey, click_id, reasons }));
    await tx`
      insert into click_flags (batch_key, click_id, reasons)
      select batch_key, click_id, reasons from json_populate_recordset(null::click_flags, ${JSON.stringify(rows)}::text::json)`;
  }
  return flags;
}

type Group = { scope: Scope; key: string; minute: string; clicks: ClickRecorded[] };

/**
 * Adds the batch to the per-minute counters and returns the clicks beyond their offer's
 * threshold: the n-th click of a minute is flagged when n > threshold (so exactly `threshold`
 * clicks a minute pass). Clicks within a batch count in time order.
 */
async function floods(
  tx: Tx,
  batch: ClicksRecorded,
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
  const sorted = [...batch.clicks].sort((a, b) => a.clicked_at.localeCompare(b.clicked_at));
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

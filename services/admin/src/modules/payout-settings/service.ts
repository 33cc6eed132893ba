import type { Sql, Tx } from "@roundtrip/db";
import { fitsCurrency, isTimeZone } from "@roundtrip/ledger";
import { HttpError } from "@roundtrip/service";
import type { PayoutSettingsInput } from "./model.ts";

const COLUMNS = (sql: Sql | Tx) => sql`
  affiliate_id, cycle, cycle_days, cycle_anchor::text, time_zone, payout_hold, payout_hold_reason, parent_affiliate_id,
  sub_share_percent::text, sub_tier3_percent::text, negative_carryover`;

/** An affiliate's payout terms; the defaults when none were set. */
export async function readSettings(sql: Sql | Tx, affiliateId: string) {
  const [affiliate] = await sql`select id from affiliates where id = ${affiliateId}`;
  if (!affiliate) throw new HttpError(404, "not_found", "no such affiliate");
  const [row] =
    await sql`select ${COLUMNS(sql)} from affiliate_payout_settings where affiliate_id = ${affiliateId}`;
  const offers = await sql<{ offer_id: string; negative_carryover: string }[]>`
    select offer_id, negative_carryover from affiliate_offer_carryover where affiliate_id = ${affiliateId} order by offer_id`;
  return {
    affiliate_id: affiliateId,
    cycle: "monthly",
    cycle_days: null,
    cycle_anchor: "2024-01-01",
    time_zone: "UTC",
    payout_hold: false,
    payout_hold_reason: null,
    parent_affiliate_id: null,
    sub_share_percent: "0.000000",
    sub_tier3_percent: "0.000000",
    negative_carryover: "carry",
    ...row,
    offer_carryover: [...offers],
  };
}

/** A parent chain must end: an affiliate cannot be its own ancestor. */
async function assertNoCycle(tx: Tx, affiliateId: string, parentId: string): Promise<void> {
  const [loop] = await tx`
    with recursive up(id, depth) as (
      select ${parentId}::bigint, 1
      union all
      select s.parent_affiliate_id, up.depth + 1 from up join affiliate_payout_settings s on s.affiliate_id = up.id
      where s.parent_affiliate_id is not null and up.depth < 50)
    select 1 from up where id = ${affiliateId} limit 1`;
  if (loop)
    throw new HttpError(
      400,
      "invalid_request",
      "parent_affiliate_id: would make the affiliate its own ancestor",
      "parent_affiliate_id",
    );
}

export async function writeSettings(tx: Tx, affiliateId: string, body: PayoutSettingsInput) {
  const [affiliate] = await tx`select id from affiliates where id = ${affiliateId}`;
  if (!affiliate) throw new HttpError(404, "not_found", "no such affiliate");
  if ((body.cycle === "custom") !== (body.cycle_days !== undefined))
    throw new HttpError(
      400,
      "invalid_request",
      "cycle_days: required for a custom cycle, and only for one",
      "cycle_days",
    );
  if (body.time_zone !== undefined && !isTimeZone(body.time_zone))
    throw new HttpError(400, "invalid_request", "time_zone: unknown time zone", "time_zone");
  for (const field of ["sub_share_percent", "sub_tier3_percent"] as const)
    if (body[field] !== undefined && Number(body[field]) > 100)
      throw new HttpError(400, "invalid_request", `${field}: at most 100`, field);
  if (body.parent_affiliate_id) {
    const [parent] = await tx`select id from affiliates where id = ${body.parent_affiliate_id}`;
    if (!parent)
      throw new HttpError(
        400,
        "invalid_request",
        "parent_affiliate_id: no such affiliate",
        "parent_affiliate_id",
      );
    await assertNoCycle(tx, affiliateId, body.parent_affiliate_id);
  }
  const before = await readSettings(tx, affiliateId);
  const row = {
    affiliate_id: affiliateId,
    cycle: body.cycle,
    cycle_days: body.cycle_days ?? null,
    cycle_anchor: body.cycle_anchor ?? before.cycle_anchor,
    time_zone: body.time_zone ?? before.time_zone,
    payout_hold: body.payout_hold ?? false,
    payout_hold_reason: body.payout_hold_reason ?? null,
    parent_affiliate_id: body.parent_affiliate_id ?? null,
    sub_share_percent: body.sub_share_percent ?? "0",
    sub_tier3_percent: body.sub_tier3_percent ?? "0",
    negative_carryover: body.negative_carryover ?? "carry",
  };
  await tx`
    insert into affiliate_payout_settings ${tx(row)}
    on conflict (affiliate_id) do update set
      cycle = excluded.cycle, cycle_days = excluded.cycle_days, cycle_anchor = excluded.cycle_anchor, time_zone = excluded.time_zone,
      payout_hold = excluded.payout_hold, payout_hold_reason = excluded.payout_hold_reason,
      parent_affiliate_id = excluded.parent_affiliate_id, sub_share_percent = excluded.sub_share_percent,
      sub_tier3_percent = excluded.sub_tier3_percent, negative_carryover = excluded.negative_carryover, updated_at = now()`;
  return { before, after: await readSettings(tx, affiliateId) };
}

export async function writeMinimum(tx: Tx, currency: string, minimum: string) {
  if (!fitsCurrency(minimum, currency))
    throw new HttpError(400, "invalid_request", `minimum: finer than ${currency}'s minor unit`, "minimum");
  const [before] = await tx`select currency, minimum::text from payout_minimums where currency = ${currency}`;
  const [after] = await tx`
    insert into payout_minimums (currency, minimum) values (${currency}, ${minimum})
    on conflict (currency) do update set minimum = excluded.minimum
    returning currency::text, minimum::text`;
  return { before, after: after as { currency: string; minimum: string } };
}

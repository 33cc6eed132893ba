import type { Sql } from "@roundtrip/db";

const BATCH = 5_000;

export type Dropped = {
  clicks: number;
  conversions: number;
  postback_log: number;
  rule_hits: number;
  platform_forwards: number;
};

/** Where a Conversions API payload carries the visitor's IP and user agent (docs/conversions-api.md). */
const FORWARD_VISITOR_PATHS = [
  "{data,0,user_data,client_ip_address}",
  "{data,0,user_data,client_user_agent}",
  "{data,0,user,ip}",
  "{data,0,user,user_agent}",
  "{events,0,adIdentifiers,landingPageDeviceInfo}",
];
const FORWARD_HAS_VISITOR =
  "$ ? (exists(@.data[*].user_data.client_ip_address) || exists(@.data[*].user_data.client_user_agent) || exists(@.data[*].user.ip) || exists(@.data[*].user.user_agent) || exists(@.events[*].adIdentifiers.landingPageDeviceInfo))";

/**
 * EU privacy: a brand's raw visitor data — IP, user agent, referrer — is dropped from its clicks,
 * conversions, postback log, rule measurements and settled ad-platform forwards (their stored
 * payload; a pending one keeps it until it is sent) once older than the brand's
 * `raw_retention_days`. Figures stay: rows are not deleted, rollups and the ledger never held the
 * raw data, and what was derived from it (device, OS, browser, reason codes, uniqueness) remains.
 * Batches of a bounded size until one comes back short, so no pass holds long locks.
 */
export async function dropRawVisitorData(sql: Sql, now = new Date()): Promise<Dropped> {
  const dropped: Dropped = { clicks: 0, conversions: 0, postback_log: 0, rule_hits: 0, platform_forwards: 0 };
  const brands = await sql<{ id: string; before: Date }[]>`
    select id, ${now}::timestamptz - make_interval(days => raw_retention_days) as before
    from brands where raw_retention_days is not null`;
  for (const b of brands) {
    dropped.clicks += await untilShort(
      () => sql`
        update clicks c set ip = null, user_agent = null, referrer = null
        from (select click_id, clicked_at from clicks
              where brand_id = ${b.id} and clicked_at < ${b.before}
                and (ip is not null or user_agent is not null or referrer is not null)
              limit ${BATCH}) old
        where c.click_id = old.click_id and c.clicked_at = old.clicked_at`,
    );
    dropped.conversions += await untilShort(
      () => sql`
        update conversions set ip = null, user_agent = null
        where id in (select id from conversions
                     where brand_id = ${b.id} and occurred_at < ${b.before} and (ip is not null or user_agent is not null)
                     limit ${BATCH})`,
    );
    dropped.rule_hits += await untilShort(
      () => sql`
        update conversion_rule_hits h set measured = h.measured - 'ip'
        from (select h2.conversion_id, h2.reason from conversion_rule_hits h2 join conversions c on c.id = h2.conversion_id
              where c.brand_id = ${b.id} and c.occurred_at < ${b.before} and h2.measured ? 'ip'
              limit ${BATCH}) old
        where h.conversion_id = old.conversion_id and h.reason = old.reason`,
    );
    dropped.postback_log += await untilShort(
      () => sql`
        update postback_log l set ip = null
        from (select id, received_at from postback_log
              where brand_id = ${b.id} and received_at < ${b.before} and ip is not null
              limit ${BATCH}) old
        where l.id = old.id and l.received_at = old.received_at`,
    );
    dropped.platform_forwards += await untilShort(() => {
      const stripped = FORWARD_VISITOR_PATHS.reduce(
        (acc, path) => sql`${acc} #- ${path}::text[]`,
        sql`d.body::jsonb`,
      );
      return sql`
        update deliveries d set body = (${stripped})::text
        from (select d2.id from deliveries d2 join conversion_destinations cd on cd.id = d2.destination_id
              where cd.brand_id = ${b.id} and d2.created_at < ${b.before} and d2.status <> 'pending'
                and d2.body is not null and jsonb_path_exists(d2.body::jsonb, ${FORWARD_HAS_VISITOR}::jsonpath)
              limit ${BATCH}) old
        where d.id = old.id`;
    });
  }
  return dropped;
}

async function untilShort(batch: () => Promise<{ count: number }>): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await batch();
    total += r.count;
    if (r.count < BATCH) return total;
  }
}

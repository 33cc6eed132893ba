/**
 * Brute-force protection for sign-in: failed attempts are counted in PostgreSQL (so every admin
 * replica sees the same count) per email and client address, and per address alone (one address
 * trying many emails). Past the limit within the window the key is locked for the lock time, and a
 * locked key is refused before the password is even checked — a right guess then tells nothing.
 * A successful sign-in clears its email-and-address count.
 */
import type { Sql } from "@roundtrip/db";

export type SignInLimits = {
  /** Failures per email and address within `windowSeconds` before that pair is locked. */
  maxFailures: number;
  windowSeconds: number;
  /** How long a locked key stays locked. */
  lockSeconds: number;
  /** An address alone may fail this many times the per-pair limit (several people behind one NAT). */
  addressFactor: number;
};

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = {
  maxFailures: 5,
  windowSeconds: 15 * 60,
  lockSeconds: 15 * 60,
  addressFactor: 10,
};

/** The counters an attempt by `email` from `ip` falls under, with each one's limit. */
export function limitKeys(email: string, ip: string | null, limits: SignInLimits) {
  const address = ip ?? "unknown";
  return [
    { key: `pair|${email}|${address}`, max: limits.maxFailures },
    { key: `address|${address}`, max: limits.maxFailures * limits.addressFactor },
  ];
}

/** Seconds until the attempt may be made, or 0 when no counter it falls under is locked. */
export async function lockedFor(sql: Sql, keys: { key: string }[]): Promise<number> {
  const [row] = await sql<{ wait: number | null }[]>`
    select ceil(extract(epoch from max(locked_until) - now()))::int as wait from sign_in_failures
    where key in ${sql(keys.map((k) => k.key))} and locked_until > now()`;
  return row?.wait ?? 0;
}

/** Counts a failure under each key (a new window when the last one is over), locking a key past its limit. */
export async function recordFailure(
  sql: Sql,
  keys: { key: string; max: number }[],
  limits: SignInLimits,
): Promise<void> {
  for (const { key, max } of keys) {
    await sql`
      insert into sign_in_failures as f (key, failures, window_started_at, locked_until)
      values (${key}, 1, now(), case when 1 >= ${max} then now() + make_interval(secs => ${limits.lockSeconds}) end)
      on conflict (key) do update set
        failures = case when f.window_started_at <= now() - make_interval(secs => ${limits.windowSeconds})
                        then 1 else f.failures + 1 end,
        window_started_at = case when f.window_started_at <= now() - make_interval(secs => ${limits.windowSeconds})
                                 then now() else f.window_started_at end,
        locked_until = case
          when (case when f.window_started_at <= now() - make_interval(secs => ${limits.windowSeconds})
                     then 1 else f.failures + 1 end) >= ${max}
          then greatest(f.locked_until, now() + make_interval(secs => ${limits.lockSeconds}))
          else f.locked_until end`;
  }
}

/** After a success: the pair starts again from nothing; counters long over are dropped. */
export async function clearFailures(sql: Sql, keys: { key: string }[], limits: SignInLimits): Promise<void> {
  await sql`delete from sign_in_failures where key = ${keys[0]?.key ?? ""}`;
  await sql`
    delete from sign_in_failures
    where window_started_at < now() - make_interval(secs => ${limits.windowSeconds})
      and (locked_until is null or locked_until < now())`;
}

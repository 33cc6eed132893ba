import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * CLICK_SINK=postgres, the choice for a single-node broker without fsync or for affiliates that
 * rely on their sub IDs coming back (docs/tracking.md): the click row is in PostgreSQL before the
 * 302, and the rest of the pipeline works as with the default sink.
 */
let env: TestStack;
let program: Program;
const affiliate = startAffiliateEndpoint();

beforeAll(async () => {
  env = await startTestStack("clicksinkpg", { CLICK_SINK: "postgres" });
  program = await createProgram(env.admin, { postbackUrl: affiliate.url });
}, 120_000);

afterAll(async () => {
  await env?.stop();
  affiliate.stop();
}, 60_000);

describe("CLICK_SINK=postgres", () => {
  test("the click and its sub IDs are stored before the 302; the conversion carries sub1 to the affiliate's postback; the click counts once", async () => {
    const sub1 = `aff-click-${crypto.randomUUID().slice(0, 8)}`;
    const res = await eventually(async () => {
      const r = await fetch(`${env.urls.click}/c/${program.link.code}?sub1=${sub1}&sub2=x`, {
        redirect: "manual",
      });
      return r.status === 302 ? r : undefined;
    }, "the tracking link to redirect");
    const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
    // No waiting: the redirect came after the commit.
    const [row] = await env.sql`select subs from clicks where click_id = ${clickId}`;
    expect(row?.subs).toEqual({ sub1, sub2: "x" });

    const pb = await fetch(
      `${env.urls.gateway}/postback?${new URLSearchParams({
        token: program.advertiser.token,
        click_id: clickId,
        txid: `pg-${sub1}`,
        event: "ftd",
        amount: "20.00",
      })}`,
    );
    expect(pb.status).toBe(200);
    const sent = await eventually(
      async () => affiliate.received.find((p) => p.url.searchParams.get("cid") === clickId),
      "the affiliate postback",
    );
    expect(sent.url.searchParams.get("s1")).toBe(sub1);
    const [conversion] = await env.sql`select subs from conversions where click_id = ${clickId}`;
    expect(conversion?.subs).toMatchObject({ sub1 });

    // The batch's CLICKS event still reaches attribution (through the outbox): counted once,
    // the row it finds left as it is.
    await eventually(async () => {
      const [s] =
        await env.sql`select coalesce(sum(clicks), 0)::int as n from click_stats_hourly where link_id = ${program.link.id}`;
      return s?.n === 1;
    }, "the click in click_stats_hourly");
    await Bun.sleep(1_000);
    const [again] =
      await env.sql`select coalesce(sum(clicks), 0)::int as n from click_stats_hourly where link_id = ${program.link.id}`;
    expect(again?.n).toBe(1);
    const [{ n }] =
      (await env.sql`select count(*)::int as n from clicks where click_id = ${clickId}`) as unknown as [
        { n: number },
      ];
    expect(n).toBe(1);
  });
});

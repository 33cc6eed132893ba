import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { loadDirectory, receive, RequestLog } from "@roundtrip/intake";
import { adminHarness, type Harness, program } from "../../test-support.ts";

let h: Harness;
let p: Awaited<ReturnType<typeof program>>;
let other: Awaited<ReturnType<typeof program>>;

beforeAll(async () => {
  h = await adminHarness("imports");
  p = await program(h);
  other = await program(h);
});
afterAll(async () => {
  await h?.cleanup();
});

type Summary = {
  import_id: string;
  rows: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  results: {
    row: number;
    status: number;
    outcome: string;
    reason: string | null;
    receipt_id: string | null;
    duplicate: boolean;
    error?: { field?: string };
  }[];
};

const upload = (csv: string, query = "", key = h.keys.admin) =>
  h.app.handle(
    new Request(`http://admin.test/v1/imports${query}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "text/csv" },
      body: csv,
    }),
  );

describe("CSV import", () => {
  test("every row through the gateway's validation and dedup, one result per row", async () => {
    const c1 = h.codec.mint(Number(p.link.id));
    const c2 = h.codec.mint(Number(p.link.id));
    const forged = `${c1.slice(0, -3)}${c1.endsWith("AAA") ? "BBB" : "AAA"}`;
    // The advertiser's server already reported one of these transactions.
    const gatewayLike = await receive(
      { sql: h.sql, codec: h.codec, directory: (() => dir) as never, log: new RequestLog(h.sql) },
      {
        channel: {
          kind: "s2s",
          method: "GET",
          ip: null,
          signed: { header: null, method: "GET", target: "", body: "" },
        },
        raw: { click_id: c2, txid: "S2S-1", event: "ftd", token: p.advertiser.token },
      },
    );
    expect(gatewayLike.status).toBe(200);

    const csv = [
      "clickid,transaction_id,goal,sum,currency,timestamp",
      `${c1},IMP-1,registration,,EUR,2024-05-01T10:00:00Z`,
      `${c1},IMP-2,ftd,100.50,EUR,1714557600`,
      `${c1},IMP-2,ftd,100.50,EUR,1714557600`, // the same row twice: a duplicate
      `${c2},S2S-1,ftd,50,EUR,`, // already sent by S2S: a duplicate
      `${forged},IMP-3,ftd,1,EUR,`,
      `{clickid},IMP-4,ftd,1,EUR,`,
      `${c1},IMP-5,ftd,12abc,EUR,`,
      `${c1},'; DROP TABLE conversions; --,ftd,1,EUR,`,
      `${c1},IMP-6,ftd`, // too few fields
      `${h.codec.mint(Number(other.link.id))},IMP-7,ftd,1,EUR,`, // another advertiser's click
    ].join("\n");
    const res = await upload(csv, `?advertiser_id=${p.advertiser.id}&filename=may.csv`);
    expect(res.status).toBe(201);
    const s = (await res.json()) as Summary;
    expect(s.rows).toBe(10);
    expect(s.results.map((r) => [r.row, r.outcome, r.reason])).toEqual([
      [2, "accepted", null],
      [3, "accepted", null],
      [4, "duplicate", null],
      [5, "duplicate", null],
      [6, "unknown_click", "click_id_bad_signature"],
      [7, "invalid", "unreplaced_macro"],
      [8, "invalid", "invalid_parameters"],
      [9, "invalid", "invalid_parameters"], // spaces are not allowed in a txid
      [10, "invalid", "invalid_row"],
      [11, "unknown_click", "advertiser_mismatch"],
    ]);
    expect(s.results[6]?.error?.field).toBe("amount");
    expect(s.results[7]?.error?.field).toBe("txid");
    expect(s.results[2]?.receipt_id).toBe(s.results[1]?.receipt_id as string);
    expect(s.results[3]?.receipt_id).toBe(gatewayLike.receiptId as string);
    expect({ accepted: s.accepted, duplicates: s.duplicates, rejected: s.rejected }).toEqual({
      accepted: 2,
      duplicates: 2,
      rejected: 6,
    });

    // The same receipts, log rows and outbox events as a gateway postback.
    const receipts =
      await h.sql`select txid, source, amount::text, occurred_at from postback_receipts where txid like 'IMP-%' order by id`;
    expect(receipts.map((r) => [r.txid, r.source, r.amount])).toEqual([
      ["IMP-1", "import", null],
      ["IMP-2", "import", "100.500000"],
    ]);
    expect(new Date(receipts[1]?.occurred_at as Date).toISOString()).toBe("2024-05-01T10:00:00.000Z");
    const events = await h.sql`select 1 from bus_outbox where payload->>'txid' like 'IMP-%'`;
    expect(events).toHaveLength(2);

    // Importing the same file again books nothing new.
    const again = (await (await upload(csv, `?advertiser_id=${p.advertiser.id}`)).json()) as Summary;
    expect(again.accepted).toBe(0);
    expect(again.duplicates).toBe(4);

    // The import and its rows can be read back.
    const stored = await h.ok<{
      row_count: number;
      accepted: number;
      filename: string;
      results: { row: number; outcome: string }[];
    }>("GET", `/v1/imports/${s.import_id}`);
    expect(stored).toMatchObject({ row_count: 10, accepted: 2, filename: "may.csv" });
    expect(stored.results.map((r) => r.outcome)).toEqual(
      s.results.filter((r) => r.reason !== "invalid_row").map((r) => r.outcome),
    );
  });

  let dir: Awaited<ReturnType<typeof loadDirectory>>;
  beforeAll(async () => {
    dir = await loadDirectory(h.sql);
  });

  test("multipart upload with the file field and advertiser_id; aliases of the advertiser apply", async () => {
    await h.ok("PATCH", `/v1/advertisers/${p.advertiser.id}`, {
      param_aliases: { player_click: "click_id", deal: "txid" },
    });
    const form = new FormData();
    form.set(
      "file",
      new File([`player_click,deal,event\n${h.codec.mint(Number(p.link.id))},MP-1,registration\n`], "m.csv", {
        type: "text/csv",
      }),
    );
    form.set("advertiser_id", p.advertiser.id);
    const a = await h.call<Summary>("POST", "/v1/imports", h.keys.manager, form);
    expect(a.status).toBe(201);
    expect(a.body.results[0]).toMatchObject({ outcome: "accepted" });
  });

  test("files that cannot be imported are refused as a whole, naming why", async () => {
    const cases: [string, number, string][] = [
      ["", 400, "invalid_csv"],
      ["click_id,event\n", 400, "invalid_csv"],
      ["click_id,click_id\nx,y\n", 400, "invalid_csv"],
      ['click_id,"bad header"\nx,y\n', 400, "invalid_csv"],
      ['click_id,event\n"unterminated,ftd\n', 400, "invalid_csv"],
      [`click_id,event\n${"x,ftd\n".repeat(10_001)}`, 400, "invalid_csv"],
    ];
    for (const [csv, status, code] of cases) {
      const res = await upload(csv);
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    const json = await h.call("POST", "/v1/imports", h.keys.admin, { rows: [] });
    expect(json.status).toBe(415);
  });

  test("only admin and manager may import; analysts may read", async () => {
    expect((await upload("click_id,event\nx,ftd\n", "", h.keys.analyst)).status).toBe(403);
    expect((await h.call("GET", "/v1/imports", h.keys.analyst)).status).toBe(200);
    expect((await h.call("GET", "/v1/imports", null)).status).toBe(401);
  });
});

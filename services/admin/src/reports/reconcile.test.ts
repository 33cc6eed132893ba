import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminHarness, type Harness, program } from "../test-support.ts";

let h: Harness;
type Program = Awaited<ReturnType<typeof program>>;
let p: Program;

async function conversion(
  txid: string,
  event: string,
  status: string,
  amount: string | null,
  occurred: string,
  isTestAffiliate?: string,
) {
  const clickedAt = new Date(Date.parse(occurred) - 3_600_000);
  const affiliate = isTestAffiliate ?? p.affiliate.id;
  await h.sql`
    insert into conversions (advertiser_id, brand_id, offer_id, affiliate_id, link_id, click_id, clicked_at, txid, event, status, amount, currency, occurred_at, receipt_id)
    values (${p.advertiser.id}, ${p.brand.id}, ${p.offer.id}, ${affiliate}, ${p.link.id}, ${h.codec.mint(Number(p.link.id), clickedAt)}, ${clickedAt},
            ${txid}, ${event}, ${status}, ${amount}, 'EUR', ${occurred}, 0)`;
}

async function upload(csv: string, fields: Record<string, string> = {}) {
  const form = new FormData();
  form.set("file", new File([csv], "advertiser.csv", { type: "text/csv" }));
  form.set("advertiser_id", p.advertiser.id);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return h.call<{ summary: Record<string, number> }>(
    "POST",
    "/v1/reports/reconciliation",
    h.keys.analyst,
    form,
  );
}

beforeAll(async () => {
  h = await adminHarness("reconcile");
  p = await program(h);
  const tester = await h.ok<{ id: string }>("POST", "/v1/affiliates", { name: "test", is_test: true });
  await conversion("d-1", "ftd", "approved", "100.00", "2026-04-02T10:00:00Z");
  await conversion("d-2", "ftd", "approved", "50.00", "2026-04-02T11:00:00Z");
  await conversion("d-3", "ftd", "pending", "75.00", "2026-04-03T09:00:00Z");
  await conversion("d-4", "ftd", "approved", "20.00", "2026-04-04T09:00:00Z");
  await conversion("d-5", "ftd", "approved", "10.00", "2026-04-05T09:00:00Z");
  await conversion("d-1", "registration", "approved", null, "2026-04-01T09:00:00Z");
  await conversion("old-1", "ftd", "approved", "10.00", "2026-02-01T09:00:00Z");
  await conversion("test-1", "ftd", "approved", "10.00", "2026-04-02T09:00:00Z", tester.id);
}, 60_000);

afterAll(async () => {
  await h?.cleanup();
});

describe("reconciliation against an advertiser's CSV", () => {
  const csv = [
    "Transaction ID,Goal,Deposit,State",
    "d-1,ftd,100.00,paid", // matched ('paid' is approved)
    "d-2,ftd,55.00,approved", // amount mismatch
    "d-3,ftd,75,approved", // status mismatch (ours pending); 75 = 75.00
    "d-9,ftd,30.00,approved", // missing on our side
    "d-1,registration,,approved", // matched, no amount to compare
    "d-6,ftd,abc,approved", // invalid amount
    "d-1,ftd,100.00,paid", // duplicate row
    ",ftd,1.00,approved", // no txid
  ].join("\n");

  test("matched, missing on each side, amount and status mismatches, invalid rows", async () => {
    const r = await upload(csv, {
      txid_column: "Transaction ID",
      event_column: "Goal",
      amount_column: "Deposit",
      status_column: "State",
      from: "2026-04-01",
      to: "2026-04-06",
    });
    expect(r.status).toBe(200);
    expect(r.body.summary).toEqual({
      their_rows: 8,
      our_rows: 6,
      matched: 2,
      missing_ours: 1,
      missing_theirs: 2,
      amount_mismatches: 1,
      status_mismatches: 1,
      currency_mismatches: 0,
      invalid_rows: 3,
    });
    const body = r.body as unknown as {
      matched: { txid: string; event: string }[];
      missing_ours: { txid: string }[];
      missing_theirs: { txid: string }[];
      mismatches: { txid: string; field: string; theirs: string; ours: string }[];
      invalid: { line: number; error: string }[];
    };
    expect(body.matched.map((m) => `${m.txid}/${m.event}`).sort()).toEqual(["d-1/ftd", "d-1/registration"]);
    expect(body.mismatches).toEqual([
      expect.objectContaining({ txid: "d-2", field: "amount", theirs: "55.00", ours: "50.000000" }),
      expect.objectContaining({ txid: "d-3", field: "status", theirs: "approved", ours: "pending" }),
    ]);
    expect(body.missing_ours.map((m) => m.txid)).toEqual(["d-9"]);
    // Ours in the period they do not have; test traffic and conversions outside the period are not listed.
    expect(body.missing_theirs.map((m) => m.txid).sort()).toEqual(["d-4", "d-5"]);
    expect(body.invalid.map((i) => i.line)).toEqual([7, 8, 9]);
  });

  test("a CSV download with one line per finding", async () => {
    const r = await upload(csv, {
      txid_column: "Transaction ID",
      event_column: "Goal",
      amount_column: "Deposit",
      status_column: "State",
      format: "csv",
    });
    expect(r.headers.get("content-type")).toContain("text/csv");
    const lines = r.text.trim().split("\n");
    expect(lines[0]).toBe("result,txid,event,conversion_id,field,theirs,ours,line");
    expect(lines.filter((l) => l.startsWith("amount_mismatch,d-2,ftd"))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith("missing_ours,d-9"))).toHaveLength(1);
  });

  test("without an event column, a default event or the txid alone is the key", async () => {
    const r = await upload("txid,amount\nd-4,20.00\nd-5,11.00\n", { amount_column: "amount", event: "ftd" });
    expect(r.body.summary).toMatchObject({ matched: 1, amount_mismatches: 1, missing_ours: 0 });
  });

  test("bad files and unknown columns are refused, naming the field", async () => {
    const noColumn = await upload("id,amount\n1,2\n", {});
    expect(noColumn.status).toBe(400);
    expect((noColumn.body as unknown as { error: { field: string } }).error.field).toBe("txid_column");
    const broken = await upload('txid,amount\n"d-1,2\n', {});
    expect(broken.status).toBe(400);
    expect((broken.body as unknown as { error: { code: string; field: string } }).error).toMatchObject({
      code: "invalid_csv",
      field: "file",
    });
    const noFile = await h.call<{ error: { field: string } }>(
      "POST",
      "/v1/reports/reconciliation",
      h.keys.admin,
      (() => {
        const f = new FormData();
        f.set("advertiser_id", p.advertiser.id);
        return f;
      })(),
    );
    expect(noFile.status).toBe(400);
    expect(noFile.body.error.field).toBe("file");
  });

  test("affiliate keys cannot reconcile", async () => {
    const key = await h.affiliateKey(p.affiliate.id);
    const form = new FormData();
    form.set("file", new File(["txid\nd-1\n"], "x.csv"));
    form.set("advertiser_id", p.advertiser.id);
    expect((await h.call("POST", "/v1/reports/reconciliation", key, form)).status).toBe(403);
  });
});

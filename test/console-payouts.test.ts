import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { type Browser, chromium, type Page } from "playwright-core";
import { startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * The payout pages of the console (issue 14) in headless Chromium over the six real processes:
 * an operator previews a run (who is paid, and why not), approves it, downloads the PayPal file
 * (parsed with a CSV library), uploads the provider's result file and sees each line's outcome
 * with the provider's reference; the affiliate sees its own payout and statement in the portal;
 * every role sees the payout pages without an error or a null/undefined/NaN on screen.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = join(import.meta.dir, "..", "test-results", "screenshots");
const DAY = 86_400_000;

let env: TestStack;
let browser: Browser;
const errors: string[] = [];
const who: Record<string, string> = {};
const keys: Record<string, string> = {};

async function affiliate(name: string, details: Record<string, string> | null, amount: string) {
  const a = await env.admin.post<{ id: string }>("/v1/affiliates", { name, payout_currency: "EUR" });
  who[name] = a.id;
  await env.admin.put(`/v1/affiliates/${a.id}/payout-settings`, { cycle: "custom", cycle_days: 1 });
  if (details) await env.admin.put(`/v1/affiliates/${a.id}/payment-details`, details);
  // earned yesterday, payable since (commission's own tests cover how it books)
  const at = new Date(Math.floor(Date.now() / DAY) * DAY - DAY / 2);
  await env.sql`
    insert into ledger_entries (affiliate_id, type, payout, revenue, currency, affiliate_payout, affiliate_currency,
                                available_at, created_at, reason, actor)
    values (${a.id}, 'adjustment', ${amount}, 0, 'EUR', ${amount}, 'EUR', ${at}, ${at}, 'earned', 'test')`;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  mkdirSync(SHOTS, { recursive: true });
  env = await startTestStack("payouts-ui", {}, { readyTimeoutMs: 90_000 });
  await affiliate("Paid Partner", { method: "paypal", account_reference: "paid@partner.example" }, "120.55");
  await affiliate(
    "Bank Partner",
    {
      method: "bank_transfer",
      account_reference: "DE89 3704 0044 0532 0130 00",
      account_holder: "Bank Partner GmbH",
      bic: "COBADEFFXXX",
    },
    "300.00",
  );
  await affiliate("No Details Ltd", null, "80.00");
  for (const role of ["manager", "analyst"] as const)
    keys[role] = (await env.admin.post<{ key: string }>("/v1/api-keys", { name: role, role })).key;
  keys.admin = env.adminKey;
  keys.affiliate = (
    await env.admin.post<{ key: string }>("/v1/api-keys", {
      name: "partner",
      role: "affiliate",
      affiliate_id: who["Paid Partner"],
    })
  ).key;
  // the console is bundled on its first request: build it before the first page waits for it
  expect((await fetch(`${env.urls.admin}/ui/main.js`)).status).toBe(200);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await env?.stop();
}, 60_000);

async function signedIn(key: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  page.on("console", (m) => {
    const url = m.location().url ?? "";
    if (m.type() === "error" && !/\/v1\/auth\/me$|\/favicon\.ico$/.test(url))
      errors.push(`${page.url()}: ${m.text()} (${url})`);
  });
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  await page.goto(`${env.urls.admin}/ui/`);
  await page.getByRole("tab", { name: "Use an API key" }).click();
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  return page;
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(SHOTS, `payouts-${name}.png`), fullPage: true });

describe("payouts in the console", () => {
  test("preview with the reasons, approve, download the export, upload the result, see each line", async () => {
    const page = await signedIn(keys.admin as string);
    await page.getByRole("link", { name: "Payout runs", exact: true }).click();
    await page.getByLabel("Cycles ending on").fill(new Date().toISOString().slice(0, 10));
    await page.getByRole("button", { name: "Preview" }).click();
    const plan = page.locator("#run-plan");
    await plan.getByRole("cell", { name: "No Details Ltd" }).waitFor();
    const row = (name: string) => plan.locator("tbody tr").filter({ hasText: name });
    expect(await row("No Details Ltd").textContent()).toContain("no payment details");
    expect(await row("Paid Partner").textContent()).toContain("paid");
    expect(await row("Bank Partner").textContent()).toContain("€300.00");
    expect(await plan.textContent()).not.toContain("paid@partner.example"); // masked
    await shot(page, "01-preview");

    await page.getByRole("button", { name: "Approve run (2 lines)" }).click();
    const detail = page.locator("#run-detail");
    await detail.getByRole("cell", { name: "Paid Partner" }).waitFor();
    const { data: runs } = await env.admin.get<{ data: { id: string }[] }>("/v1/payout-runs");
    expect(runs).toHaveLength(1);
    const run = await env.admin.get<{ lines: { id: string; affiliate_id: string; amount: string }[] }>(
      `/v1/payout-runs/${runs[0]?.id}`,
    );
    const paypalLine = run.lines.find((l) => l.affiliate_id === who["Paid Partner"]);
    await shot(page, "02-run");

    // the PayPal file, as the operator saves it
    const [file] = await Promise.all([
      page.waitForEvent("download"),
      detail.getByRole("button", { name: "PayPal Payouts CSV (1)" }).click(),
    ]);
    const rows = parse(readFileSync((await file.path()) as string, "utf8"), { columns: true }) as Record<
      string,
      string
    >[];
    expect(rows).toEqual([
      expect.objectContaining({
        Recipient: "paid@partner.example",
        Amount: "120.55",
        Currency: "EUR",
        "Reference ID": `RT-${paypalLine?.id}`,
      }),
    ]);

    // the provider's result file: the PayPal line paid with its transaction id
    await detail.getByLabel("Result file (CSV)").setInputFiles({
      name: "paypal-results.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(`Reference ID,Status,Transaction ID\nRT-${paypalLine?.id},Success,PP-UI-42\n`),
    });
    await detail.getByRole("button", { name: "Import results" }).click();
    await detail.locator("#result-counts").filter({ hasText: "1 paid, 0 failed" }).waitFor();
    const paidRow = detail.locator("tbody tr").filter({ hasText: `RT-${paypalLine?.id}` });
    await paidRow.filter({ hasText: "PP-UI-42" }).waitFor();
    expect(await paidRow.textContent()).toContain("paid");
    await shot(page, "03-results");
    expect(errors).toEqual([]);
  }, 120_000);

  test("the affiliate sees its own payout and statement in the portal, nobody else's", async () => {
    const page = await signedIn(keys.affiliate as string);
    await page.getByRole("link", { name: "Payouts", exact: true }).click();
    await page.getByRole("cell", { name: "PP-UI-42" }).waitFor();
    const text = (await page.locator("main, body").first().textContent()) ?? "";
    expect(text).toContain("€120.55");
    expect(text).not.toContain("300.00");
    expect(text).not.toContain("paid@partner.example");
    expect(await page.getByRole("link", { name: "Payout runs", exact: true }).count()).toBe(0);
    await page.getByRole("link", { name: "Statements", exact: true }).click();
    await page.getByRole("button", { name: "PDF" }).first().waitFor();
    expect(await page.locator("tbody tr").count()).toBe(1);
    await shot(page, "04-affiliate");
    expect(errors).toEqual([]);
  }, 60_000);

  test("operator webhooks: an admin adds one in the form, sees its secret once, pauses it", async () => {
    const page = await signedIn(keys.admin as string);
    await page.getByRole("link", { name: "Operator webhooks", exact: true }).click();
    await page.getByText("Add a webhook").click();
    const form = page.locator("#operator-webhook");
    await form.getByLabel("Name").fill("Finance ERP");
    await form.getByLabel("URL").fill("https://erp.example/hooks");
    await form.getByLabel(/statement\.ready/).check();
    await form.getByRole("button", { name: "Add webhook" }).click();
    await page.getByText("Signing secret (shown once)").waitFor();
    const row = page.locator("tbody tr").filter({ hasText: "Finance ERP" });
    await row.waitFor();
    expect(await row.textContent()).toContain("payout.paid, payout.failed, statement.ready");
    const { data } = await env.admin.get<{ data: { id: string; events: string[] }[] }>(
      "/v1/operator-webhooks",
    );
    expect(data.map((w) => w.events)).toEqual([["payout.paid", "payout.failed", "statement.ready"]]);
    await row.getByRole("button", { name: "Pause" }).click();
    await row.getByRole("button", { name: "Enable" }).waitFor();
    await shot(page, "05-operator-webhooks");
    expect(errors).toEqual([]);
  }, 60_000);

  test("payout settings: cycle in the program's zone, a parent, the payment details masked; a minimum per currency", async () => {
    const page = await signedIn(keys.admin as string);
    await page.getByRole("link", { name: "Payout settings", exact: true }).click();
    // the console loads affiliates' names once after sign-in (in the background): wait for them
    await page
      .locator("#settings-affiliate option", { hasText: "Bank Partner" })
      .waitFor({ state: "attached" });
    await page.getByLabel("Affiliate", { exact: true }).selectOption({ label: "Bank Partner" });
    const form = page.locator("#payout-settings-form");
    await form.getByLabel("Time zone").fill("Europe/Malta");
    await form.getByLabel("Parent (sub-affiliate of)").selectOption({ label: "Paid Partner" });
    await form.getByLabel(/tier 2/).fill("5");
    await form.getByLabel("A negative period").selectOption({ label: "reset to zero at period end" });
    await form.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("payout settings saved").waitFor();
    const saved = await env.admin.get<Record<string, unknown>>(
      `/v1/affiliates/${who["Bank Partner"]}/payout-settings`,
    );
    expect(saved).toMatchObject({
      cycle: "custom",
      cycle_days: 1,
      time_zone: "Europe/Malta",
      parent_affiliate_id: who["Paid Partner"],
      sub_share_percent: "5.000000",
      negative_carryover: "reset",
    });
    const card = page.locator("#affiliate-payout-settings");
    await card.getByText("Bank Partner GmbH").waitFor();
    const shown = (await card.textContent()) ?? "";
    expect(shown).not.toContain("0532 0130 00"); // the IBAN only masked
    expect(shown).toContain("****0 00");

    const minimum = page.locator("#minimum-form");
    await minimum.getByLabel("Currency").fill("EUR");
    await minimum.getByLabel("Minimum payout").fill("25");
    await minimum.getByRole("button", { name: "Set minimum" }).click();
    await page.getByRole("cell", { name: "€25.00" }).waitFor();
    await shot(page, "06-payout-settings");
    expect(errors).toEqual([]);
  }, 60_000);

  test("every role: the payout pages it may see, without errors or null/undefined/NaN", async () => {
    for (const role of ["admin", "manager", "analyst", "affiliate"] as const) {
      const page = await signedIn(keys[role] as string);
      const paths = await page
        .locator("#nav a")
        .evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).hash));
      const mine = paths.filter((h) =>
        [
          "#/payout-runs",
          "#/payouts",
          "#/payout-settings",
          "#/sub-affiliates",
          "#/statements",
          "#/operator-webhooks",
        ].includes(h),
      );
      expect(mine).toEqual(
        role === "affiliate"
          ? ["#/payouts", "#/sub-affiliates", "#/statements"]
          : [
              "#/payout-runs",
              "#/payouts",
              "#/payout-settings",
              "#/sub-affiliates",
              "#/statements",
              "#/operator-webhooks",
            ],
      );
      const runs = await env.admin.get<{ data: { id: string }[] }>("/v1/payout-runs");
      const extra =
        role === "affiliate"
          ? []
          : [
              `#/payout-runs?run=${runs.data[0]?.id}`,
              `#/payout-settings?affiliate_id=${who["Paid Partner"]}`,
            ];
      for (const hash of [...mine, ...extra]) {
        const before = errors.length;
        await page.goto(`${env.urls.admin}/ui/${hash}`);
        await page.locator("#page-title").waitFor();
        await page.waitForLoadState("networkidle");
        await page.waitForFunction(() => !document.querySelector("[aria-busy=true]"));
        // biome-ignore lint/performance/useDomNodeTextContent: rendered text is the point
        const text = await page.locator("body").innerText();
        const where = `${role} ${hash}`;
        expect({ where, bad: text.match(/\b(null|undefined|NaN)\b/g) }).toEqual({ where, bad: null });
        if (role === "affiliate")
          expect({ where, other: text.includes("Bank Partner") }).toEqual({ where, other: false });
        expect({ where, errors: errors.slice(before) }).toEqual({ where, errors: [] });
      }
      if (role === "analyst") {
        // analysts preview but do not approve, export or import
        await page.goto(`${env.urls.admin}/ui/#/payout-runs`);
        await page.getByRole("button", { name: "Preview" }).click();
        await page.getByText("Admins and managers approve runs.").waitFor();
        await page.goto(`${env.urls.admin}/ui/#/payout-runs?run=${runs.data[0]?.id}`);
        await page.locator("#run-detail").waitFor();
        expect(await page.getByRole("button", { name: "Import results" }).count()).toBe(0);
      }
      await page.context().close();
    }
  }, 180_000);
});

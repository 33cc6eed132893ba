import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { createProgram, type Program } from "./support/fixtures.ts";
import { BROWSER_UA } from "./support/load.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * The traffic-quality pages of the console (issue 13) in headless Chromium over the six real
 * processes: an operator sets a hold rule for an offer in the Traffic rules form, real clicks
 * and postbacks are held by it, the Review queue approves one and rejects the other in bulk
 * (audited, the rejection reaching the affiliate's postback), an IP list is created and its
 * ranges uploaded as a CSV, a burst of bot clicks shows in Needs attention, a link is routed by
 * country to another offer, and the traffic-quality report shows what fired. No console error.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = join(import.meta.dir, "..", "test-results", "screenshots");

let env: TestStack;
let program: Program;
let browser: Browser;
let page: Page;
const errors: string[] = [];
const affiliate = startAffiliateEndpoint();

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  mkdirSync(SHOTS, { recursive: true });
  env = await startTestStack("quality-ui");
  program = await createProgram(env.admin, { postbackUrl: affiliate.url });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  page.on("console", (m) => {
    const url = m.location().url ?? "";
    // The sign-in page asks /v1/auth/me on purpose before anyone is signed in; Chromium asks for a favicon.
    if (m.type() === "error" && !/\/v1\/auth\/me$|\/favicon\.ico$/.test(url))
      errors.push(`${page.url()}: ${m.text()} (${url})`);
  });
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  await page.goto(`${env.urls.admin}/ui/`);
  await page.getByRole("tab", { name: "Use an API key" }).click();
  await page.getByLabel("API key").fill(env.adminKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await env?.stop();
  affiliate.stop();
}, 60_000);

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

async function clickAndConvert(txid: string): Promise<string> {
  const res = await eventually(async () => {
    const r = await fetch(`${env.urls.click}/c/${program.link.code}`, {
      redirect: "manual",
      headers: { "user-agent": BROWSER_UA },
    });
    return r.status === 302 ? r : undefined;
  }, "the link to redirect");
  const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
  const pb = await fetch(
    `${env.urls.gateway}/postback?${new URLSearchParams({
      token: program.advertiser.token,
      click_id: clickId,
      txid,
      event: "ftd",
      status: "approved",
      amount: "50",
    })}`,
  );
  expect(pb.status).toBe(200);
  return clickId;
}

describe("traffic quality in the console", () => {
  test("a hold rule set in the form holds real conversions; the review queue decides them in bulk", async () => {
    await page.getByRole("link", { name: "Traffic rules", exact: true }).click();
    await page.locator("#rule-defaults").getByText("ctit_too_fast").waitFor();
    await page.getByRole("button", { name: "Set a rule" }).click();
    const form = page.locator("#traffic-rule");
    await form.getByLabel("Offer").selectOption({ label: "Welcome" });
    await form.getByLabel("Rule").selectOption({ label: "ctit too fast" });
    await form.getByLabel("Event").fill("ftd");
    await form.getByLabel("Threshold").fill("3600");
    await form.getByLabel("Action").selectOption({ label: "hold" });
    await form.getByRole("button", { name: "Save rule" }).click();
    const row = page.locator("tbody tr").filter({ hasText: "3,600 seconds" });
    await row.waitFor();
    expect(await row.textContent()).toContain("Welcome");
    await shot("quality-01-traffic-rules");

    const clicks = [
      await clickAndConvert(`ui-${crypto.randomUUID().slice(0, 8)}`),
      await clickAndConvert(`ui-${crypto.randomUUID().slice(0, 8)}`),
    ];
    await eventually(
      async () => {
        const q = await env.admin.get<{ data: unknown[] }>("/v1/reviews?state=held");
        return q.data.length === 2 ? q : undefined;
      },
      "both conversions held",
      30_000,
    );
    await page.getByRole("link", { name: "Review queue", exact: true }).click();
    const boxes = page.getByRole("checkbox", { name: /Select conversion/ });
    await boxes.nth(1).waitFor();
    expect(await page.locator("tbody").textContent()).toContain("ctit_too_fast");
    await shot("quality-02-review-queue");
    await boxes.nth(0).check();
    await page.getByLabel("Reject reason").selectOption({ label: "ctit too fast" });
    await page.getByRole("button", { name: "Reject selected" }).click();
    await page.locator("#toast").filter({ hasText: "1 rejected" }).waitFor();
    await page
      .getByRole("checkbox", { name: /Select conversion/ })
      .nth(0)
      .waitFor();
    // The rejected one left the open queue: one checkbox remains.
    await eventually(
      async () =>
        (await page.getByRole("checkbox", { name: /Select conversion/ }).count()) === 1 ? true : undefined,
      "the rejected conversion to leave the queue",
    );
    await page.getByRole("button", { name: "Select all shown" }).click();
    expect(await page.getByRole("checkbox", { name: /Select conversion/ }).isChecked()).toBe(true);
    await page.getByRole("button", { name: "Approve selected" }).click();
    await page.locator("#toast").filter({ hasText: "1 approved" }).waitFor();
    await page.getByText("Nothing to review.").waitFor();
    const decided = await env.admin.get<{ data: { state: string; click_id: string }[] }>(
      "/v1/reviews?state=rejected",
    );
    expect(decided.data.map((d) => d.click_id)).toHaveLength(1);
    expect(clicks).toContain(decided.data[0]?.click_id as string);
    const audit = await env.admin.get<{ data: { resource: string }[] }>("/v1/audit-log?order=desc&limit=50");
    expect(audit.data.some((a) => a.resource === "conversions")).toBe(true);
  }, 120_000);

  test("an IP list is created and its ranges uploaded as a CSV", async () => {
    await page.getByRole("link", { name: "IP lists", exact: true }).click();
    await page.getByRole("button", { name: "New IP list" }).click();
    const form = page.locator("#ip-list");
    await form.getByLabel("Name").fill("Proxy farm");
    await form.getByLabel("Kind").selectOption({ label: "vpn" });
    await form.getByRole("button", { name: "Create IP list" }).click();
    await page.getByRole("button", { name: "Upload CSV to Proxy farm" }).click();
    await page
      .locator("#ip-upload")
      .getByLabel("CSV file")
      .setInputFiles({
        name: "ranges.csv",
        mimeType: "text/csv",
        buffer: Buffer.from("range,note\n203.0.113.0/24,farm\n198.51.100.7,one\n"),
      });
    await page.locator("#ip-upload").getByRole("button", { name: "Upload" }).click();
    await page.locator("pre.ranges").filter({ hasText: "203.0.113.0/24" }).waitFor();
    expect(await page.locator("pre.ranges").textContent()).toContain("198.51.100.7");
    await shot("quality-03-ip-lists");
  }, 60_000);

  test("a burst of bot clicks shows in Needs attention, and its link opens the flagged clicks", async () => {
    // Bun's own user agent is a bot to isbot: these clicks are redirected, stored and flagged `bot`.
    for (let i = 0; i < 120; i++) {
      const r = await fetch(`${env.urls.click}/c/${program.link.code}`, { redirect: "manual" });
      expect(r.status).toBe(302);
    }
    type Attention = { items: { kind: string; fix: { params?: Record<string, string> } }[] };
    await eventually(
      async () =>
        (await env.admin.get<Attention>("/v1/attention")).items.find(
          (i) => i.kind === "flagged_clicks_spike",
        ),
      "the spike in the attention panel",
      30_000,
    );
    await page.getByRole("link", { name: "Dashboard", exact: true }).click();
    const item = page.locator("#attention li").filter({ hasText: "Spike in bot clicks" });
    await item.waitFor();
    expect(await item.textContent()).toContain("most from");
    await shot("quality-00-attention-bot-spike");
    await item.getByRole("link", { name: "See the flagged clicks" }).click();
    await page.getByRole("heading", { name: "Clicks" }).waitFor();
    expect(await page.getByLabel("Flag").inputValue()).toBe("bot");
    await page.locator("tbody tr").first().waitFor();
    expect(await page.locator("tbody tr").count()).toBe(50);
    expect(await page.locator("tbody").textContent()).toContain("a bot");
  }, 120_000);

  test("a link routes by country to another offer, set and removed in the console", async () => {
    await env.admin.post("/v1/offers", {
      brand_id: program.brand.id,
      advertiser_id: program.advertiser.id,
      name: "Sportsbook",
      destination_url: "https://sports.example/landing?cid={click_id}",
      currency: "EUR",
      events: [{ code: "ftd", window_days: 30 }],
    });
    await page.goto(`${env.urls.admin}/ui/#/links`);
    await page.reload(); // the names of offers are loaded at start: the new one too
    await page.getByRole("link", { name: `Routing of link ${program.link.code}` }).click();
    await page.locator("#routing-none").waitFor();
    await page.getByRole("button", { name: "Edit routing" }).click();
    const form = page.locator("#link-routing");
    await form.getByRole("button", { name: "Add rule" }).click();
    const rule = form.locator("fieldset.repeat-row").first();
    await rule.getByLabel("Rule name").fill("UK to sports");
    await rule.getByLabel("Countries").fill("gb");
    await rule.getByRole("button", { name: "Add destination" }).click();
    await rule.getByLabel("Offer").selectOption({ label: "Sportsbook" });
    await rule.getByLabel("Weight").fill("3");
    await form.getByRole("button", { name: "Save routing" }).click();
    const table = page.locator("#routing-rules");
    await table.waitFor();
    expect(await table.textContent()).toContain("country GB");
    expect(await table.textContent()).toContain("Sportsbook");
    await shot("quality-05-link-routing");
    const routing = await env.admin.get<{ rules: { name: string; when: { countries: string[] } }[] }>(
      `/v1/links/${program.link.id}/routing`,
    );
    expect(routing.rules).toMatchObject([{ name: "UK to sports", when: { countries: ["GB"] } }]);
    await page.getByRole("button", { name: "Remove routing" }).click();
    await page.locator("#routing-none").waitFor();
  }, 60_000);

  test("the traffic-quality report shows the rule that fired, linking to its reviews", async () => {
    await page.getByRole("link", { name: "Traffic quality", exact: true }).click();
    const row = page.locator("#quality-conversions tr").filter({ hasText: "ctit_too_fast" });
    await row.waitFor();
    expect(await row.textContent()).toContain("hold");
    await shot("quality-04-report");
    expect(errors).toEqual([]);
  }, 60_000);
});

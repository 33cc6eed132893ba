import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * The web console in real headless Chromium (Debian's package; CI installs it): sign in, create an
 * offer, an affiliate, a payout rule and a link through the forms, follow the tracking link to the
 * demo landing page, fire a deposit postback from it, and find the conversion and its trace in
 * the console. Screenshots go to test-results/screenshots/.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = join(import.meta.dir, "..", "test-results", "screenshots");
const DEMO_TOKEN = `demo_${crypto.randomUUID().replaceAll("-", "")}`;

let env: TestStack;
let browser: Browser;
let page: Page;

/** Waits until the locator's text contains `text` (bun:test has no Playwright matchers). */
async function seeText(locator: Locator, text: string, timeout = 15_000): Promise<void> {
  await locator.filter({ hasText: text }).first().waitFor({ timeout });
}

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  mkdirSync(SHOTS, { recursive: true });
  env = await startTestStack("browser", { DEMO_ADVERTISER_TOKEN: DEMO_TOKEN });
  // The demo brand and its advertiser (the seed's job on a real stack).
  const brand = await env.admin.post<{ id: string }>("/v1/brands", {
    slug: "demo",
    name: "Demo Casino",
    currency: "EUR",
    timezone: "Europe/Malta",
  });
  await env.admin.post("/v1/advertisers", { brand_id: brand.id, name: "Demo Casino PAM", token: DEMO_TOKEN });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-dev-shm-usage",
    ],
  });
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  page.setDefaultTimeout(15_000);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await env?.stop();
}, 60_000);

describe("the web console in Chromium", () => {
  test("sign in with an API key", async () => {
    await page.goto(`${env.urls.admin}/`);
    await page.getByLabel("API key").fill("rt_wrong_key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await seeText(page.getByRole("alert"), "unknown or revoked");
    await page.getByLabel("API key").fill(env.adminKey);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    expect(await page.locator("#who").textContent()).toContain("admin");
    await shot("01-dashboard-empty");
  });

  let trackingUrl = "";

  test("create an offer, an affiliate, a payout rule and a tracking link", async () => {
    // Each page renders after its data arrives: wait for its form before filling it, or a field
    // of the page still on screen (they share labels like "Name") gets the text.
    const open = async (link: string, submit: string) => {
      await page.getByRole("link", { name: link }).click();
      await page.getByRole("button", { name: submit }).waitFor();
    };
    await open("Offers", "Create offer");
    await page.getByLabel("Brand").selectOption({ label: "demo — Demo Casino" });
    await page.getByLabel("Advertiser").selectOption({ label: "#1 Demo Casino PAM" });
    await page.getByLabel("Name").fill("Welcome bonus");
    await page.getByLabel("Destination URL").fill(`${env.urls.admin}/demo/landing?click_id={click_id}`);
    await page.getByLabel("Events (code:window days)").fill("registration:30, ftd:30");
    await page.getByRole("button", { name: "Create offer" }).click();
    await page.getByRole("cell", { name: "Welcome bonus" }).waitFor();
    await shot("02-offer-created");

    await open("Affiliates", "Create affiliate");
    await page.getByLabel("Name").fill("Media Buyer One");
    await page.getByRole("button", { name: "Create affiliate" }).click();
    await page.getByRole("cell", { name: "Media Buyer One" }).waitFor();

    await open("Payout rules", "Create rule");
    await page.getByLabel("Offer").selectOption({ label: "#1 Welcome bonus" });
    await page.getByLabel("Event").fill("ftd");
    await page.getByLabel("Model").selectOption("cpa");
    await page.getByLabel("Payout", { exact: true }).fill("25.00");
    await page.getByLabel("Revenue", { exact: true }).fill("40.00");
    await page.getByRole("button", { name: "Create rule" }).click();
    await page.getByRole("cell", { name: "25.000000" }).waitFor();

    await open("Links", "Create link");
    await page.getByLabel("Offer").selectOption({ label: "#1 Welcome bonus" });
    await page.getByLabel("Affiliate").selectOption({ label: "#1 Media Buyer One" });
    await page.getByRole("button", { name: "Create link" }).click();
    const url = page.locator("table code").filter({ hasText: "/c/" }).first();
    await url.waitFor();
    trackingUrl = (await url.textContent()) ?? "";
    expect(trackingUrl).toStartWith(`${env.urls.click}/c/`);
    await shot("03-link-with-tracking-url");
  });

  test("the advertiser's postback URL and parameter guide", async () => {
    await page.getByRole("link", { name: "Advertisers" }).click();
    await page.getByRole("button", { name: "Postback URL" }).first().click();
    const guide = page.locator("#guide");
    await guide.getByText(`${env.urls.gateway}/postback?click_id={click_id}`).waitFor();
    await guide.getByRole("cell", { name: "txid", exact: true }).first().waitFor();
    await shot("04-postback-guide");
  });

  test("click the link, land on the demo page, fire a deposit, see the conversion", async () => {
    // The click service follows the new link within a second.
    const deadline = Date.now() + 10_000;
    let landed = false;
    while (!landed && Date.now() < deadline) {
      await page.goto(trackingUrl);
      landed = page.url().startsWith(`${env.urls.admin}/demo/landing`);
      if (!landed) await Bun.sleep(200);
    }
    expect(landed).toBe(true);
    const clickId = (await page.locator("#click-id").textContent())?.trim() ?? "";
    expect(clickId).toHaveLength(36);
    await shot("05-demo-landing");

    await page.getByRole("button", { name: "ftd (100.00)" }).click();
    await seeText(page.locator("#answer"), '"status":"accepted"');
    const rows = page.locator("#conversions tr.conversion");
    await seeText(rows, "approved");
    await seeText(rows, "25.00");
    await shot("06-demo-conversion-booked");

    await page.goto(`${env.urls.admin}/ui/#/conversions`);
    const listed = page.getByRole("cell", { name: clickId });
    await listed.waitFor();
    await listed.click();
    await page.getByRole("heading", { name: "Conversion trace" }).waitFor();
    const timeline = page.locator("#timeline");
    await seeText(timeline.locator("tr"), "created conversion");
    await seeText(timeline.locator("tr"), "commission 25.000000 EUR");
    await shot("07-conversion-trace");
  });

  test("the dashboard charts the traffic", async () => {
    await page.goto(`${env.urls.admin}/ui/#/dashboard`);
    await page.waitForFunction(() => document.querySelector("#total-conversions")?.textContent === "1");
    expect(Number(await page.locator("#total-clicks").textContent())).toBeGreaterThan(0);
    expect(await page.locator("svg.chart rect").count()).toBeGreaterThan(0);
    await shot("08-dashboard");
  });
});

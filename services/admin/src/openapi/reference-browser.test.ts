import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { adminHarness, type Harness } from "../test-support.ts";

/**
 * /docs renders in real headless Chromium (Debian's package) from a separate admin process, with
 * no request leaving this origin (Scalar is served from its npm package). Screenshot:
 * test-results/screenshots/api-reference.png.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = join(import.meta.dir, "..", "..", "..", "..", "test-results", "screenshots");

let h: Harness;
let browser: Browser;
beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  mkdirSync(SHOTS, { recursive: true });
  h = await adminHarness("apidocs", { process: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await h?.cleanup();
}, 60_000);

test("the API reference renders the document's operations, loading nothing from elsewhere", async () => {
  const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  const origin = new URL(h.url).origin;
  const elsewhere: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) elsewhere.push(r.url());
  });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${h.url}/docs`);
  // Scalar renders the document's title and a sidebar entry per tag (operations under each).
  await page.getByRole("heading", { name: "Roundtrip admin API" }).waitFor({ timeout: 60_000 });
  await page.getByText("brands", { exact: true }).first().waitFor({ timeout: 15_000 });
  await page.getByText("brands", { exact: true }).first().click();
  await page.getByText("Create a brand (admin)").first().waitFor({ timeout: 15_000 });
  await page.screenshot({ path: join(SHOTS, "api-reference.png"), fullPage: false });
  expect(elsewhere).toEqual([]);
  expect(errors).toEqual([]);
  await page.close();
}, 120_000);

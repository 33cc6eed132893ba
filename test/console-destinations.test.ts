import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type PlatformServer, startPlatformServer } from "@roundtrip/outbound/testing";
import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { startAffiliateEndpoint } from "./support/affiliate-endpoint.ts";
import { addAffiliate, createProgram, type Program } from "./support/fixtures.ts";
import { BROWSER_UA } from "./support/load.ts";
import { eventually, startTestStack, type TestStack } from "./support/test-stack.ts";

/**
 * The Conversions API page of the console (docs/conversions-api.md) in headless Chromium over the
 * six real processes and local servers standing in for Meta and Google: an operator adds a Meta and
 * a Google Ads destination through the form (the Google-only fields appear for Google only), sends
 * a test event to each and sees the request and the platform's answer (never the token); a real
 * click and postback are forwarded, an 8-day-old one is skipped for Meta with its reason, both
 * shown in the destination's forwards and on the deliveries page (the "skipped" filter, the
 * destination named where the affiliate cell was empty); the operator edits the mapping and
 * replaces the token (a wrong one: the send test shows the platform's refusal), pauses and enables
 * it. An affiliate without payment details opens Payout settings without a console error. Every
 * role at desktop and phone width: no console error, no null/undefined/NaN, analysts read but do
 * not change, affiliates never see a destination. Screenshots go to test-results/screenshots/.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = join(import.meta.dir, "..", "test-results", "screenshots");
const META_TOKEN = "EAAB-console-meta-token-9f3a";
const META_SECRET = "console-app-secret";
const GOOGLE_TOKEN = "ya29.console-google-token-7c1d";

let env: TestStack;
let program: Program;
let browser: Browser;
let page: Page;
const errors: string[] = [];
const keys: Record<string, string> = {};
const affiliate = startAffiliateEndpoint();
const platforms = {} as Record<"meta" | "google", PlatformServer>;
let noDetails = "";

function watch(p: Page): void {
  p.on("console", (m) => {
    const url = m.location().url ?? "";
    // The sign-in page asks /v1/auth/me on purpose before anyone is signed in; Chromium asks for a favicon.
    if (m.type() === "error" && !/\/v1\/auth\/me$|\/favicon\.ico$/.test(url))
      errors.push(`${p.url()}: ${m.text()} (${url})`);
  });
  p.on("pageerror", (e) => errors.push(`${p.url()}: ${e.message}`));
}

async function signedIn(key: string, width = 1360, height = 900): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width, height } });
  const p = await ctx.newPage();
  p.setDefaultTimeout(15_000);
  watch(p);
  await p.goto(`${env.urls.admin}/ui/`);
  await p.getByRole("tab", { name: "Use an API key" }).click();
  await p.getByLabel("API key").fill(key);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("heading", { name: "Dashboard" }).waitFor();
  return p;
}

/** Waits for `done`; an error the page shows instead fails at once with its text. */
async function orAlert(p: Page, done: Locator): Promise<void> {
  const alert = p.locator("[role=alert]").filter({ hasText: /\S/ }).first();
  const shown = await Promise.race([
    done
      .first()
      .waitFor()
      .then(() => null),
    alert.waitFor().then(() => alert.textContent()),
  ]);
  if (shown !== null) throw new Error(`the page says: ${shown}`);
}

const shot = (p: Page, name: string) =>
  p.screenshot({ path: join(SHOTS, `destinations-${name}.png`), fullPage: true });

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  mkdirSync(SHOTS, { recursive: true });
  platforms.meta = startPlatformServer("meta", { token: META_TOKEN, appSecret: META_SECRET });
  platforms.google = startPlatformServer("google", { token: GOOGLE_TOKEN });
  env = await startTestStack("capi-ui", { DELIVERY_RETRY_SCHEDULE_S: "0,0.5,0.5,0.5" });
  program = await createProgram(env.admin, { postbackUrl: affiliate.url, slug: "capiui" });
  // A second affiliate, never paid yet: no payment details.
  noDetails = (
    await addAffiliate(env.admin, {
      offerId: program.offer.id,
      postbackUrl: affiliate.url,
      name: "Fresh Partner",
    })
  ).affiliate.id;
  keys.admin = env.adminKey;
  for (const role of ["manager", "analyst"] as const)
    keys[role] = (await env.admin.post<{ key: string }>("/v1/api-keys", { name: role, role })).key;
  keys.affiliate = (
    await env.admin.post<{ key: string }>("/v1/api-keys", {
      name: "partner",
      role: "affiliate",
      affiliate_id: program.affiliate.id,
    })
  ).key;
  // the console is bundled on its first request: build it before the first page waits for it
  expect((await fetch(`${env.urls.admin}/ui/main.js`)).status).toBe(200);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  page = await signedIn(env.adminKey);
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await env?.stop();
  affiliate.stop();
  for (const s of Object.values(platforms)) s?.stop();
}, 60_000);

async function click(query: string): Promise<string> {
  const res = await eventually(async () => {
    const r = await fetch(`${env.urls.click}/c/${program.link.code}${query}`, {
      redirect: "manual",
      headers: { "user-agent": BROWSER_UA },
    });
    return r.status === 302 ? r : undefined;
  }, "the tracking link to redirect");
  const clickId = new URL(res.headers.get("location") as string).searchParams.get("cid") as string;
  await eventually(async () => {
    const rows = await env.sql`select 1 from clicks where click_id = ${clickId}`;
    return rows.length > 0;
  }, "the click row");
  return clickId;
}

async function postback(params: Record<string, string>): Promise<void> {
  const res = await fetch(
    `${env.urls.gateway}/postback?${new URLSearchParams({ token: program.advertiser.token, ...params })}`,
  );
  expect(res.status).toBe(200);
}

const row = (name: string) => page.locator("tbody tr").filter({ hasText: name });

describe("Conversions API destinations in the console", () => {
  test("an operator adds a Meta destination in the form and sends a test: the request and the platform's answer, never the token", async () => {
    await page.getByRole("link", { name: "Conversions API", exact: true }).click();
    await page.getByRole("heading", { name: "Conversions API" }).waitFor();
    await page.getByRole("button", { name: "New destination" }).click();
    const form = page.locator("form.form");
    await form.getByLabel("Brand").selectOption({ label: "Brand capiui" });
    await form.getByLabel("Offer", { exact: true }).selectOption({ label: "Welcome" });
    await form.getByLabel("Platform", { exact: true }).selectOption("meta");
    // Google's fields are not Meta's.
    expect(await form.getByLabel("OAuth client ID").count()).toBe(0);
    await form.getByLabel("Name", { exact: true }).fill("Meta dataset");
    await form.getByLabel("Platform account").fill("1234567890123");
    await form.getByLabel("Access token", { exact: true }).fill(META_TOKEN);
    await form.getByLabel("App secret", { exact: true }).fill(META_SECRET);
    await form.getByLabel("Our event").fill("ftd");
    await form.getByLabel("Platform event").fill("Purchase");
    await form.getByLabel("Test event code").fill("TEST4242");
    await form.getByLabel("Base URL").fill(platforms.meta.url);
    await shot(page, "01-meta-form");
    await form.getByRole("button", { name: "Create destination" }).click();
    await orAlert(page, row("Meta dataset"));
    const meta = row("Meta dataset");
    await meta.getByText("ftd → Purchase").waitFor();
    // The token's last four characters, nothing more.
    await meta.getByText(`…${META_TOKEN.slice(-4)}`).waitFor();

    await page.getByRole("button", { name: "Send test to Meta dataset" }).click();
    const result = page.locator(".test-result");
    await orAlert(page, result.locator(".badge", { hasText: "delivered" }));
    // biome-ignore lint/performance/useDomNodeTextContent: rendered text is the point
    const shown = await result.innerText();
    expect(shown).toContain(`POST ${platforms.meta.url}/v24.0/1234567890123/events`);
    expect(shown).toContain('"test_event_code": "TEST4242"');
    expect(shown).toContain("HTTP 200");
    expect(shown).toContain("events_received");
    expect(shown).not.toContain(META_TOKEN);
    expect(platforms.meta.problems()).toEqual([]);
    expect(platforms.meta.requests.at(-1)?.body).toMatchObject({ test_event_code: "TEST4242" });
    await shot(page, "02-meta-send-test");
    await result.getByRole("button", { name: "Close" }).click();
  });

  test("a Google Ads destination: the Google fields appear for Google, the send test validates only", async () => {
    await page.getByRole("button", { name: "New destination" }).click();
    const form = page.locator("form.form");
    await form.getByLabel("Brand").selectOption({ label: "Brand capiui" });
    await form.getByLabel("Platform", { exact: true }).selectOption("google");
    await form.getByLabel("OAuth client ID").waitFor();
    expect(await form.getByLabel("App secret", { exact: true }).count()).toBe(0);
    expect(await form.getByLabel("Test event code").count()).toBe(0);
    await form.getByLabel("Name", { exact: true }).fill("Google Ads account");
    // A platform rule the schema cannot state comes back naming its field, beside it.
    await form.getByLabel("Platform account").fill("123-456-7890");
    await form.getByLabel("Access token", { exact: true }).fill(GOOGLE_TOKEN);
    await form.getByLabel("Our event").fill("ftd");
    await form.getByLabel("Platform event").fill("555000111");
    await form.getByLabel("Base URL").fill(platforms.google.url);
    const before = errors.length;
    await form.getByRole("button", { name: "Create destination" }).click();
    await page.getByText("Check the highlighted field").waitFor();
    await form.locator("small.error", { hasText: "a Google Ads customer ID is 10 digits" }).waitFor();
    errors.splice(before); // the refusal's 400, which the browser logs
    await form.getByLabel("Platform account").fill("1234567890");
    await form.getByRole("button", { name: "Create destination" }).click();
    await orAlert(page, row("Google Ads account"));
    await row("Google Ads account").getByText("every offer").waitFor();
    await page.getByRole("button", { name: "Send test to Google Ads account" }).click();
    const result = page.locator(".test-result");
    await orAlert(page, result.locator(".badge", { hasText: "delivered" }));
    // biome-ignore lint/performance/useDomNodeTextContent: rendered text is the point
    const shown = await result.innerText();
    expect(shown).toContain("/v1/events:ingest");
    expect(shown).toContain('"validateOnly": true');
    expect(shown).not.toContain(GOOGLE_TOKEN);
    await shot(page, "03-google-send-test");
    await result.getByRole("button", { name: "Close" }).click();
  });

  test("conversions forwarded, an 8-day-old one skipped for Meta with the reason: in the destination's forwards and on the deliveries page", async () => {
    const fresh = await click("?fbclid=IwAR-console-fresh&gclid=Cj0-console-fresh");
    await postback({ click_id: fresh, txid: "ui-tx-fresh", event: "ftd", amount: "150.00" });
    const old = await click("?fbclid=IwAR-console-old");
    await postback({
      click_id: old,
      txid: "ui-tx-old",
      event: "ftd",
      amount: "60.00",
      timestamp: String(Math.floor((Date.now() - 8 * 86_400_000) / 1000)),
    });
    // Meta: one delivered, one skipped; Google: the fresh one delivered, the old one has no gclid.
    await eventually(
      async () => {
        const rows = await env.sql`
          select status from deliveries where destination_id is not null and status <> 'pending'`;
        return rows.length >= 4 ? rows : undefined;
      },
      "the forwards to settle",
      30_000,
    );
    await page.goto(`${env.urls.admin}/ui/#/conversion-destinations`);
    await page.getByRole("button", { name: "Forwards of Meta dataset" }).click();
    const panel = page.locator(".card").filter({ hasText: "Forwards to Meta dataset" });
    const delivered = panel.locator("tbody tr").filter({ hasText: "ui-tx-fresh" });
    await delivered.getByText("delivered").waitFor();
    const skipped = panel.locator("tbody tr").filter({ hasText: "ui-tx-old" });
    await skipped.getByText("too old for meta: the event is more than 7 days old").waitFor();
    await shot(page, "04-forwards");
    // Its attempts, as for any delivery.
    await delivered.getByRole("button", { name: "Attempts" }).click();
    await panel.getByText(/→ 200/).waitFor();

    // The deliveries page: the skipped filter, and the destination named in the row.
    await page.goto(`${env.urls.admin}/ui/#/deliveries`);
    await page.getByLabel("Status").selectOption("skipped");
    const list = page.locator("tbody tr");
    const metaSkipped = list.filter({ hasText: "Meta dataset" });
    await metaSkipped.getByText("too old for meta: the event is more than 7 days old").waitFor();
    const googleSkipped = list.filter({ hasText: "Google Ads account" });
    await googleSkipped.getByText("no gclid on the click").waitFor();
    for (const status of await list.locator(".badge").allTextContents()) expect(status).toBe("skipped");
    await shot(page, "05-deliveries-skipped");
    // Forwards only, every status; the affiliate's postbacks are the other kind.
    await page.goto(`${env.urls.admin}/ui/#/deliveries?kind=forward`);
    await list.filter({ hasText: "Google Ads account" }).first().waitFor();
    // biome-ignore lint/performance/useDomNodeTextContent: rendered text is the point
    expect(await page.locator("tbody").innerText()).not.toContain("Affiliate");
    await page.goto(`${env.urls.admin}/ui/#/deliveries?kind=postback`);
    await list.filter({ hasText: "Affiliate" }).first().waitFor();
    // biome-ignore lint/performance/useDomNodeTextContent: rendered text is the point
    expect(await page.locator("tbody").innerText()).not.toContain("Meta dataset");
  });

  test("edit: rename, map another event, replace the token (a wrong one: the send test shows the refusal); pause and enable", async () => {
    await page.goto(`${env.urls.admin}/ui/#/conversion-destinations`);
    await page.getByRole("button", { name: "Edit destination Meta dataset" }).click();
    const form = page.locator("form.form");
    await form.getByLabel("Name", { exact: true }).fill("Meta casino dataset");
    await form.getByRole("button", { name: "Add event" }).click();
    await form.getByLabel("Our event").nth(1).fill("registration");
    await form.getByLabel("Platform event").nth(1).fill("CompleteRegistration");
    await form.getByLabel("Value sent").nth(1).selectOption("none");
    await form.getByLabel("New access token").fill("EAAB-wrong-token-0000");
    await form.getByRole("button", { name: "Save destination" }).click();
    const meta = row("Meta casino dataset");
    await orAlert(page, meta);
    await meta.getByText("registration → CompleteRegistration (no value)").waitFor();
    await meta.getByText("…0000").waitFor();
    await page.getByRole("button", { name: "Send test to Meta casino dataset" }).click();
    const result = page.locator(".test-result");
    await result.locator(".badge", { hasText: "failed" }).waitFor();
    // biome-ignore lint/performance/useDomNodeTextContent: rendered text is the point
    const shown = await result.innerText();
    expect(shown).toContain("HTTP 400");
    expect(shown).toContain("OAuthException");
    expect(shown).not.toContain("EAAB-wrong-token-0000");
    await shot(page, "06-send-test-refused");
    await result.getByRole("button", { name: "Close" }).click();

    await page.getByRole("button", { name: "Pause Meta casino dataset" }).click();
    await meta.getByText("(operator)").waitFor();
    await meta.locator(".badge", { hasText: "disabled" }).waitFor();
    await page.getByRole("button", { name: "Enable Meta casino dataset" }).click();
    await meta.locator(".badge", { hasText: "active" }).waitFor();
    const audit = await env.admin.get<{ data: { action: string; after: unknown }[] }>(
      "/v1/audit-log?resource=conversion-destinations&limit=100",
    );
    const text = JSON.stringify(audit.data);
    expect(text).toContain("(replaced)");
    for (const secret of [META_TOKEN, META_SECRET, GOOGLE_TOKEN, "EAAB-wrong-token-0000"])
      expect(text).not.toContain(secret);
    expect(audit.data.map((a) => a.action)).toContain("send-test");
    expect(errors).toEqual([]);
  });

  test("an affiliate without payment details: Payout settings says so, without a console error", async () => {
    const before = errors.length;
    await page.goto(`${env.urls.admin}/ui/#/payout-settings?affiliate_id=${noDetails}`);
    await page.locator("#no-payment-details").waitFor();
    await page.waitForLoadState("networkidle");
    expect(errors.slice(before)).toEqual([]);
    await shot(page, "07-payout-settings-no-details");
  });

  test("every role, desktop and phone: the pages it may see, without errors or null/undefined/NaN", async () => {
    const forward = await env.admin.get<{ data: { id: string }[] }>("/v1/deliveries?kind=forward&limit=1");
    expect(forward.data).toHaveLength(1);
    for (const role of ["admin", "manager", "analyst", "affiliate"] as const) {
      for (const [width, height, label] of [
        [1360, 900, "desktop"],
        [390, 844, "phone"],
      ] as const) {
        const p = await signedIn(keys[role] as string, width, height);
        const nav = await p
          .locator("#nav a")
          .evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).hash));
        expect({ role, has: nav.includes("#/conversion-destinations") }).toEqual({
          role,
          has: role !== "affiliate",
        });
        const hashes =
          role === "affiliate"
            ? ["#/deliveries", "#/deliveries?status=failed"]
            : [
                "#/conversion-destinations",
                "#/deliveries",
                "#/deliveries?status=skipped",
                "#/deliveries?kind=forward",
                `#/payout-settings?affiliate_id=${noDetails}`,
              ];
        for (const hash of hashes) {
          const before = errors.length;
          await p.goto(`${env.urls.admin}/ui/${hash}`);
          await p.locator("#page-title").waitFor();
          await p.waitForLoadState("networkidle");
          await p.waitForFunction(() => !document.querySelector("[aria-busy=true]"));
          // biome-ignore lint/performance/useDomNodeTextContent: rendered text is the point
          const text = await p.locator("body").innerText();
          const where = `${role} ${label} ${hash}`;
          expect({ where, bad: text.match(/\b(null|undefined|NaN)\b/g) }).toEqual({ where, bad: null });
          if (role === "affiliate") {
            // Forwards carry the visitor's IP and user agent: never an affiliate's to see.
            const others = ["Meta casino dataset", "Google Ads account", "Fresh Partner", "(ad platform)"];
            expect({ where, others: others.filter((o) => text.includes(o)) }).toEqual({ where, others: [] });
            expect({ where, ip: text.match(/(?<![/\d.])\b\d{1,3}(\.\d{1,3}){3}\b(?!:\d)/g) }).toEqual({
              where,
              ip: null,
            });
          }
          expect({ where, errors: errors.slice(before) }).toEqual({ where, errors: [] });
          await shot(p, `role-${role}-${label}-${hash.replace(/^#\//, "").replace(/[?&=]/g, "-")}`);
        }
        if (role === "analyst" && label === "desktop") {
          // Analysts read destinations and their forwards; they do not change or test them.
          await p.goto(`${env.urls.admin}/ui/#/conversion-destinations`);
          await p.getByRole("button", { name: "Forwards of Meta casino dataset" }).click();
          await p
            .locator(".card")
            .filter({ hasText: "Forwards to Meta casino dataset" })
            .locator("tbody tr")
            .first()
            .waitFor();
          for (const name of [
            "New destination",
            "Send test to Meta casino dataset",
            "Pause Meta casino dataset",
          ])
            expect({ name, count: await p.getByRole("button", { name }).count() }).toEqual({
              name,
              count: 0,
            });
        }
        if (role === "affiliate" && label === "desktop") {
          // The address of the page leads nowhere for an affiliate: the dashboard instead.
          await p.goto(`${env.urls.admin}/ui/#/conversion-destinations`);
          await p.getByRole("heading", { name: "Dashboard" }).waitFor();
        }
        await p.context().close();
      }
    }
  }, 300_000);
});

/**
 * Seeds the demo through the admin API, idempotently: every resource is looked up first (by slug,
 * code or name) and created only when missing, so a second `bun run up` changes nothing.
 */

export const DEMO = {
  brand: { slug: "demo", name: "Demo", currency: "EUR", timezone: "Europe/Malta" },
  advertiser: "Demo Casino",
  offer: "Demo Casino — Welcome",
  events: [
    { code: "registration", window_days: 30 },
    { code: "ftd", window_days: 30 },
  ],
  payout: { event: "ftd", model: "cpa", payout: "25.00", revenue: "40.00" },
  affiliate: "Demo Affiliate",
  linkCode: "demo",
} as const;

export interface SeedOptions {
  /** The demo advertiser's postback token, when we choose it (so it is known on every start). */
  advertiserToken?: string;
  /** Base URL of the admin service as the click service redirects to it (default: `adminUrl`). */
  publicAdminUrl?: string;
  log?: (message: string) => void;
}

export interface DemoSeed {
  brandId: string;
  advertiserId: string;
  /** The token to put in postbacks, when known (returned at creation, or the one we chose). */
  advertiserToken: string | undefined;
  offerId: string;
  affiliateId: string;
  linkId: string;
  linkCode: string;
  /** What this run created (empty on a second run). */
  created: string[];
  /** Things we could not check or do, each said plainly. */
  warnings: string[];
}

export class SeedError extends Error {
  override name = "SeedError";
  readonly code = "seed_failed";
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number | undefined,
    readonly responseBody: string,
    cause?: unknown,
  ) {
    super(
      `seed: ${method} ${path} ${status === undefined ? "failed" : `answered ${status}`}: ${responseBody || "(empty body)"}`,
      { cause },
    );
  }
}

interface Resource {
  id: string;
  [field: string]: unknown;
}

interface ListPage {
  data: Resource[];
  next_cursor: string | null;
}

const MAX_LIST_PAGES = 50;

class AdminApi {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
  ) {}

  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.apiKey}`,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new SeedError(method, path, undefined, err instanceof Error ? err.message : String(err), err);
    }
    const text = await res.text();
    if (!res.ok) throw new SeedError(method, path, res.status, text.slice(0, 2_000));
    try {
      return text ? JSON.parse(text) : {};
    } catch (err) {
      throw new SeedError(method, path, res.status, `not JSON: ${text.slice(0, 500)}`, err);
    }
  }

  /** A created or fetched object, whether the API answers it bare or as `{ data: {...} }`. */
  async one(method: string, path: string, body?: unknown): Promise<Resource> {
    const json = (await this.request(method, path, body)) as { data?: unknown; id?: unknown };
    const obj = (json?.data && !Array.isArray(json.data) ? json.data : json) as Resource;
    if (typeof obj?.id !== "string" && typeof obj?.id !== "number") {
      throw new SeedError(method, path, 200, `no "id" in the answer: ${JSON.stringify(json).slice(0, 500)}`);
    }
    return { ...obj, id: String(obj.id) };
  }

  /** Every item of a list endpoint, following `next_cursor`. */
  async list(path: string): Promise<Resource[]> {
    const items: Resource[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const sep = path.includes("?") ? "&" : "?";
      const url = cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path;
      const json = (await this.request("GET", url)) as Partial<ListPage>;
      if (!Array.isArray(json?.data)) {
        throw new SeedError(
          "GET",
          url,
          200,
          `expected { data: [...] }: ${JSON.stringify(json).slice(0, 500)}`,
        );
      }
      items.push(...json.data.map((r) => ({ ...r, id: String(r.id) })));
      cursor = json.next_cursor ?? null;
      if (!cursor) break;
    }
    return items;
  }

  /** Like `list`, but a list endpoint that is missing or refuses answers `undefined` instead of failing. */
  async tryList(path: string): Promise<Resource[] | undefined> {
    try {
      return await this.list(path);
    } catch (err) {
      if (err instanceof SeedError && err.status !== undefined && err.status >= 400 && err.status < 500) {
        return undefined;
      }
      throw err;
    }
  }
}

const q = encodeURIComponent;

/** Find or create the demo brand, advertiser, offer, payout rule, affiliate, link and affiliate postback. */
export async function seedDemo(
  adminUrl: string,
  apiKey: string,
  options: SeedOptions = {},
): Promise<DemoSeed> {
  const api = new AdminApi(adminUrl.replace(/\/$/, ""), apiKey);
  const log = options.log ?? (() => {});
  const publicAdminUrl = (options.publicAdminUrl ?? adminUrl).replace(/\/$/, "");
  const created: string[] = [];
  const warnings: string[] = [];
  const note = (what: string) => {
    created.push(what);
    log(`seed: created ${what}`);
  };

  let brand = (await api.list(`/v1/brands?slug=${q(DEMO.brand.slug)}`)).find(
    (b) => b.slug === DEMO.brand.slug,
  );
  if (!brand) {
    brand = await api.one("POST", "/v1/brands", DEMO.brand);
    note(`brand ${DEMO.brand.slug}`);
  }

  let advertiserToken = options.advertiserToken;
  let advertiser = (await api.list(`/v1/advertisers?brand_id=${q(brand.id)}`)).find(
    (a) => a.name === DEMO.advertiser,
  );
  if (!advertiser) {
    advertiser = await api.one("POST", "/v1/advertisers", {
      brand_id: brand.id,
      name: DEMO.advertiser,
      ...(advertiserToken ? { token: advertiserToken } : {}),
    });
    if (typeof advertiser.token === "string") advertiserToken = advertiser.token;
    note(`advertiser "${DEMO.advertiser}"`);
  }

  let offerCreated = false;
  let offer = (await api.list(`/v1/offers?brand_id=${q(brand.id)}`)).find((o) => o.name === DEMO.offer);
  if (!offer) {
    offer = await api.one("POST", "/v1/offers", {
      brand_id: brand.id,
      advertiser_id: advertiser.id,
      name: DEMO.offer,
      destination_url: `${publicAdminUrl}/demo/landing?click_id={click_id}&offer_id={offer_id}`,
      currency: DEMO.brand.currency,
      events: DEMO.events,
    });
    offerCreated = true;
    note(`offer "${DEMO.offer}"`);
  }

  const rules = offerCreated ? [] : await api.tryList(`/v1/payout-rules?offer_id=${q(offer.id)}`);
  if (rules === undefined) {
    warnings.push("could not list payout rules of the existing demo offer; left them as they are");
  } else if (
    !rules.some((r) => r.event === DEMO.payout.event && String(r.offer_id ?? offer.id) === offer.id)
  ) {
    await api.one("POST", "/v1/payout-rules", {
      offer_id: offer.id,
      ...DEMO.payout,
      currency: DEMO.brand.currency,
    });
    note(`payout rule CPA ${DEMO.payout.payout} ${DEMO.brand.currency} on ${DEMO.payout.event}`);
  }

  let affiliateCreated = false;
  let link = (await api.list(`/v1/links?code=${q(DEMO.linkCode)}`)).find((l) => l.code === DEMO.linkCode);
  let affiliateId = link ? String(link.affiliate_id) : undefined;
  if (!affiliateId) {
    const existing = (await api.list("/v1/affiliates")).find((a) => a.name === DEMO.affiliate);
    affiliateId = existing?.id;
    if (!affiliateId) {
      affiliateId = (
        await api.one("POST", "/v1/affiliates", {
          name: DEMO.affiliate,
          payout_currency: DEMO.brand.currency,
        })
      ).id;
      affiliateCreated = true;
      note(`affiliate "${DEMO.affiliate}"`);
    }
  }
  if (!link) {
    link = await api.one("POST", "/v1/links", {
      offer_id: offer.id,
      affiliate_id: affiliateId,
      code: DEMO.linkCode,
    });
    note(`tracking link /c/${DEMO.linkCode}`);
  }

  const template = `${publicAdminUrl}/demo/affiliate-postback?click_id={click_id}&event={event}&payout={payout}&currency={currency}`;
  const postbacks = affiliateCreated
    ? []
    : await api.tryList(`/v1/affiliate-postbacks?affiliate_id=${q(affiliateId)}`);
  if (postbacks === undefined) {
    warnings.push("could not list the demo affiliate's postback templates; left them as they are");
  } else if (
    !postbacks.some(
      (p) => p.url_template === template && String(p.affiliate_id ?? affiliateId) === affiliateId,
    )
  ) {
    await api.one("POST", "/v1/affiliate-postbacks", { affiliate_id: affiliateId, url_template: template });
    note("affiliate postback template");
  }

  for (const warning of warnings) log(`seed: warning: ${warning}`);
  if (created.length === 0) log("seed: the demo was already there; nothing created");
  return {
    brandId: brand.id,
    advertiserId: advertiser.id,
    advertiserToken,
    offerId: offer.id,
    affiliateId,
    linkId: link.id,
    linkCode: DEMO.linkCode,
    created,
    warnings,
  };
}

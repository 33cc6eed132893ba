import type { Bus } from "@roundtrip/bus";
import type { ClickIdCodec } from "@roundtrip/clickid";
import type { Sql } from "@roundtrip/db";
import { errorHandler } from "@roundtrip/service";
import { NO_PROXY, type ProxyTrust } from "@roundtrip/intake";
import { recordKeyAddresses } from "./auth.ts";
import type { Cidr } from "@roundtrip/outbound";
import type { Logger } from "@roundtrip/telemetry";
import { Elysia } from "elysia";
import { advertisers } from "./modules/advertisers/index.ts";
import { advertiserManagement } from "./modules/advertisers/manage.ts";
import { affiliatePostbacks } from "./modules/affiliate-postbacks/index.ts";
import { DEFAULT_TEST_LIMITS } from "./modules/affiliate-postbacks/send-test.ts";
import { affiliates } from "./modules/affiliates/index.ts";
import { type AuthSettings, auth } from "./modules/auth/index.ts";
import { apiKeys } from "./modules/api-keys/index.ts";
import { attentionModule } from "./modules/attention/index.ts";
import { auditLog } from "./modules/audit-log/index.ts";
import { affiliateBalances } from "./modules/balances/index.ts";
import { paymentDetails } from "./modules/payment-details/index.ts";
import { payoutRuns } from "./modules/payout-runs/index.ts";
import { payoutSettings } from "./modules/payout-settings/index.ts";
import { statements } from "./modules/statements/index.ts";
import { subAffiliates } from "./modules/sub-affiliates/index.ts";
import { brands } from "./modules/brands/index.ts";
import { clicks } from "./modules/clicks/index.ts";
import { conversions } from "./modules/conversions/index.ts";
import { deliveries } from "./modules/deliveries/index.ts";
import { demo } from "./modules/demo/index.ts";
import { ledger } from "./modules/ledger/index.ts";
import { fxRates } from "./modules/fx-rates/index.ts";
import { imports } from "./modules/imports/index.ts";
import { linkRouting } from "./modules/link-routing/index.ts";
import { links } from "./modules/links/index.ts";
import { me } from "./modules/me/index.ts";
import { offers } from "./modules/offers/index.ts";
import { payoutRules } from "./modules/payout-rules/index.ts";
import { ipLists } from "./modules/ip-lists/index.ts";
import { trafficRules } from "./modules/traffic-rules/index.ts";
import { reviews } from "./modules/reviews/index.ts";
import { trafficReport } from "./modules/traffic-report/index.ts";
import { reports } from "./modules/reports/index.ts";
import { traceModule } from "./modules/trace/index.ts";
import { testPostbacks } from "./modules/test-postbacks/index.ts";
import { ui } from "./modules/ui/index.ts";
import { users } from "./modules/users/index.ts";
import { validationRuns } from "./modules/validation-runs/index.ts";
import { DEFAULT_SESSION_SETTINGS } from "./sessions.ts";
import { DEFAULT_SIGN_IN_LIMITS } from "./sign-in-limit.ts";
import { openApiDocument } from "./openapi/document.ts";
import { apiReference } from "./openapi/reference.ts";
import { jsonBodies } from "./json-bodies.ts";
import { idempotency } from "./idempotency.ts";
import { storableInput } from "./storable-input.ts";
import { webhookSecrets } from "./modules/webhook-secrets/index.ts";
import { conversionDestinations } from "./modules/conversion-destinations/index.ts";
import { operatorWebhooks } from "./modules/operator-webhooks/index.ts";

export type AdminDeps = {
  sql: Sql;
  bus: Bus;
  logger: Logger;
  /** Base URLs shown to people (tracking links, postback URLs). */
  publicClickUrl: string;
  publicGatewayUrl: string;
  /** Base URLs admin itself calls (validation runs, demo postbacks); default the public ones. */
  clickUrl?: string;
  gatewayUrl?: string;
  /** Verifies and mints click IDs (trace, validation, demo); absent when CLICK_ID_KEYS is not set. */
  codec?: ClickIdCodec | null;
  /** Mount the unauthenticated demo pages (/demo/*); off unless DEMO_ENABLED. */
  demo?: boolean;
  demoAdvertiserToken?: string | null;
  /** Default gap share that flags an offer in the S2S-vs-pixel comparison. */
  pixelGapShare?: number;
  /** Ranges a template's "send test" may reach although not public (DELIVERY_ALLOWED_CIDRS, as delivery). */
  deliveryAllowedCidrs?: Cidr[];
  /** Sessions, sign-in limits and invitations of people signing in to the console. */
  people?: Partial<AuthSettings> & { invitationSeconds?: number; proxyTrust?: ProxyTrust };
};

export function createApp(deps: AdminDeps) {
  const { sql, bus } = deps;
  const codec = deps.codec ?? null;
  const clickUrl = deps.clickUrl ?? deps.publicClickUrl;
  const gatewayUrl = deps.gatewayUrl ?? deps.publicGatewayUrl;
  const validation = validationRuns(sql, { sql, bus, codec, clickUrl, gatewayUrl, logger: deps.logger });
  // Affiliates' API-key callers' addresses, for the self-referral rule (docs/fraud.md).
  recordKeyAddresses(sql, deps.people?.proxyTrust ?? NO_PROXY);
  const app = new Elysia({ name: "admin" })
    // Before the error handler: its onError must see a refused request before the answer is made.
    .use(idempotency(sql))
    .use(errorHandler((err) => deps.logger.error("unhandled error", { error: err as Error })))
    .use(storableInput())
    .use(
      auth(sql, {
        sessions: deps.people?.sessions ?? DEFAULT_SESSION_SETTINGS,
        limits: deps.people?.limits ?? DEFAULT_SIGN_IN_LIMITS,
        proxyTrust: deps.people?.proxyTrust ?? NO_PROXY,
      }),
    )
    .use(users(sql, { invitationSeconds: deps.people?.invitationSeconds ?? 72 * 3600 }))
    .use(jsonBodies())
    .use(me(sql))
    .use(brands(sql, bus))
    .use(advertisers(sql, bus))
    .use(advertiserManagement(sql, bus, deps.publicGatewayUrl))
    .use(offers(sql, bus))
    .use(affiliates(sql, bus))
    .use(links(sql, bus, deps.publicClickUrl))
    .use(linkRouting(sql, bus))
    .use(payoutRules(sql, bus))
    .use(trafficRules(sql))
    .use(ipLists(sql))
    .use(reviews(sql, codec))
    .use(trafficReport(sql))
    .use(
      affiliatePostbacks(sql, bus, {
        allowed: deps.deliveryAllowedCidrs ?? [],
        limits: DEFAULT_TEST_LIMITS,
      }),
    )
    .use(apiKeys(sql))
    .use(clicks(sql, codec))
    .use(conversions(sql))
    .use(ledger(sql))
    .use(deliveries(sql))
    .use(
      conversionDestinations(sql, { allowed: deps.deliveryAllowedCidrs ?? [], limits: DEFAULT_TEST_LIMITS }),
    )
    .use(fxRates(sql))
    .use(affiliateBalances(sql))
    .use(paymentDetails(sql))
    .use(payoutSettings(sql))
    .use(payoutRuns(sql))
    .use(statements(sql))
    .use(subAffiliates(sql))
    .use(webhookSecrets(sql, bus))
    .use(operatorWebhooks(sql))
    .use(auditLog(sql))
    .use(imports(sql, codec))
    .use(traceModule(sql, codec))
    .use(attentionModule(sql))
    .use(testPostbacks({ sql, bus, codec, gatewayUrl }))
    .use(reports(sql, codec, { pixelGapShare: deps.pixelGapShare ?? 0.05 }))
    .use(validation.routes)
    .use(deps.demo ? demo({ sql, codec, gatewayUrl, token: deps.demoAdvertiserToken ?? null }) : new Elysia())
    .use(ui())
    .use(apiReference());
  // Generated from the routes registered above (their TypeBox schemas), on each request.
  app.get("/openapi.json", () => openApiDocument(app), { detail: { hide: true } });
  return Object.assign(app, { drain: validation.drain });
}

import type { Bus } from "@roundtrip/bus";
import type { Sql } from "@roundtrip/db";
import { errorHandler } from "@roundtrip/service";
import type { Logger } from "@roundtrip/telemetry";
import { Elysia } from "elysia";
import { advertisers } from "./modules/advertisers/index.ts";
import { affiliatePostbacks } from "./modules/affiliate-postbacks/index.ts";
import { affiliates } from "./modules/affiliates/index.ts";
import { apiKeys } from "./modules/api-keys/index.ts";
import { affiliateBalances } from "./modules/balances/index.ts";
import { brands } from "./modules/brands/index.ts";
import { conversions } from "./modules/conversions/index.ts";
import { deliveries } from "./modules/deliveries/index.ts";
import { demo } from "./modules/demo/index.ts";
import { fxRates } from "./modules/fx-rates/index.ts";
import { links } from "./modules/links/index.ts";
import { offers } from "./modules/offers/index.ts";
import { payoutRules } from "./modules/payout-rules/index.ts";
import { webhookSecrets } from "./modules/webhook-secrets/index.ts";

export type AdminDeps = {
  sql: Sql;
  bus: Bus;
  logger: Logger;
  publicClickUrl: string;
  publicGatewayUrl: string;
};

export function createApp(deps: AdminDeps) {
  const { sql, bus } = deps;
  return new Elysia({ name: "admin" })
    .use(errorHandler((err) => deps.logger.error("unhandled error", { error: err as Error })))
    .use(brands(sql, bus))
    .use(advertisers(sql, bus))
    .use(offers(sql, bus))
    .use(affiliates(sql, bus))
    .use(links(sql, bus, deps.publicClickUrl))
    .use(payoutRules(sql, bus))
    .use(affiliatePostbacks(sql, bus))
    .use(apiKeys(sql))
    .use(conversions(sql))
    .use(deliveries(sql))
    .use(fxRates(sql))
    .use(affiliateBalances(sql))
    .use(webhookSecrets(sql, bus))
    .use(demo(deps.publicGatewayUrl));
}

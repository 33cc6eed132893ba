import type { Sql } from "@roundtrip/db";
import { Elysia } from "elysia";
import { authentication } from "../../auth.ts";
import { documented } from "../../openapi/documented.ts";
import { assertCanRead } from "../../visibility.ts";
import { Attention } from "./model.ts";
import { attention } from "./service.ts";

/** The console's "Needs attention" panel: staff only (it names advertisers' and partners' problems). */
export function attentionModule(sql: Sql) {
  return new Elysia({ prefix: "/v1/attention", tags: ["reports"] }).use(authentication(sql)).get(
    "/",
    async ({ principal }) => {
      assertCanRead("attention", principal);
      return { checked_at: new Date().toISOString(), items: await attention(sql) };
    },
    documented({
      summary: "What needs an operator's attention now",
      description:
        "Conversions blocked by a missing FX rate or held over a cap, fixable attribution rejections of the last day, disabled or failing affiliate endpoints, outbound postback success below 98 %, parked dead letters, events owed for over 5 minutes, a spike in rejected postbacks, and a spike in flagged (bot, flood, IP list) clicks or in conversions a traffic rule rejected (the last hour against the 24 before, with the affiliate and offer most of it came from), and the anomalies of the Prometheus rules — an affiliate converting far above its rate or volume, an affiliate gone quiet, an offer whose postbacks stopped — each with the console page where it is fixed. Staff only.",
      response: Attention,
    }),
  );
}

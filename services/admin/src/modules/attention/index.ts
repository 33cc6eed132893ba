import type { Sql } from "@roundtrip/db";
import { Elysia } from "elysia";
import { authentication } from "../../auth.ts";
import { assertCanRead } from "../../visibility.ts";
import { attention } from "./service.ts";

/** The console's "Needs attention" panel: staff only (it names advertisers' and partners' problems). */
export function attentionModule(sql: Sql) {
  return new Elysia({ prefix: "/v1/attention", tags: ["reports"] }).use(authentication(sql)).get(
    "/",
    async ({ principal }) => {
      assertCanRead("attention", principal);
      return { checked_at: new Date().toISOString(), items: await attention(sql) };
    },
    {
      detail: {
        summary:
          "What is costing money now: blocked conversions, fixable rejections, failing endpoints, dead letters, owed events, low postback success, rejected-postback spikes",
      },
    },
  );
}

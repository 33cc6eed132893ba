import type { Sql } from "@roundtrip/db";
import { Elysia } from "elysia";
import { authentication } from "../../auth.ts";

/** Who the API key belongs to: the console signs in with it and shapes itself to the role. */
export function me(sql: Sql) {
  return new Elysia({ prefix: "/v1/me", tags: ["api-keys"] }).use(authentication(sql)).get(
    "/",
    ({ principal }) => ({
      key_id: principal.keyId,
      name: principal.name,
      role: principal.role,
      affiliate_id: principal.affiliateId,
    }),
    { detail: { summary: "The calling API key's name, role and affiliate" } },
  );
}

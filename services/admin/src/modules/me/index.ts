import type { Sql } from "@roundtrip/db";
import { Elysia } from "elysia";
import { authentication } from "../../auth.ts";
import { documented } from "../../openapi/documented.ts";
import { Me } from "../../openapi/schemas.ts";

/** Who is calling — an API key or a signed-in user — so a client can shape itself to the role. */
export function me(sql: Sql) {
  return new Elysia({ prefix: "/v1/me", tags: ["api-keys"] }).use(authentication(sql)).get(
    "/",
    ({ principal }) => ({
      kind: principal.kind,
      key_id: principal.kind === "api-key" ? principal.id : null,
      user_id: principal.kind === "user" ? principal.id : null,
      name: principal.name,
      role: principal.role,
      affiliate_id: principal.affiliateId,
    }),
    {
      ...documented({
        summary: "The caller's kind (API key or user), name, role and affiliate",
        description:
          "Who is calling — an API key or a signed-in user: kind, name, role and (for an affiliate) the affiliate, so a client can shape itself to the role.",
        response: Me,
      }),
    },
  );
}

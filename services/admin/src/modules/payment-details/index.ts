import type { Sql } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import { Elysia } from "elysia";
import { authentication } from "../../auth.ts";
import { writeAudited } from "../../changes.ts";
import { view } from "../../visibility.ts";
import { IdParams } from "../common.ts";
import { PaymentDetailsInput, PaymentDetailsRead, PaymentDetailsView } from "./model.ts";
import { assertOwnAffiliate, noDetails, readDetails, writeDetails } from "./service.ts";

/**
 * Where an affiliate is paid. Write-only: the account reference goes in and only ever comes back
 * masked (here, in run previews and lines, in the audit log); an approved run's export file is
 * the one place it is whole. An affiliate key reads its own, masked, and nobody else's.
 */
export function paymentDetails(sql: Sql) {
  return new Elysia({ prefix: "/v1/affiliates/:id/payment-details", tags: ["payouts"] })
    .use(authentication(sql))
    .get(
      "/",
      async ({ params, principal }) => {
        const show = view("payment_details", principal);
        assertOwnAffiliate(principal, params.id);
        const details = await readDetails(sql, params.id);
        if (details) return show(details);
        const [affiliate] = await sql`select id from affiliates where id = ${params.id}`;
        if (!affiliate) throw new HttpError(404, "not_found", "no such affiliate");
        return show(noDetails(params.id));
      },
      {
        params: IdParams,
        response: { 200: PaymentDetailsRead },
        detail: {
          summary: "Payment details of an affiliate, the account reference masked",
          description:
            "An affiliate key reads its own only (another affiliate's answers 404). An affiliate without payment details yet answers 200 with every field null (method null: not set; payout runs leave it out until it has some); an unknown affiliate is a 404.",
        },
      },
    )
    .put(
      "/",
      async ({ params, body, principal }) => {
        return writeAudited(sql, principal, { resource: "payment_details", id: params.id }, (tx) =>
          writeDetails(tx, params.id, body),
        );
      },
      {
        params: IdParams,
        body: PaymentDetailsInput,
        response: { 200: PaymentDetailsView },
        detail: {
          summary: "Set an affiliate's payment details (write-only; answered and audited masked)",
          description:
            "Admin and manager keys. Replaces the previous details; the audit log keeps both, masked.",
        },
      },
    );
}

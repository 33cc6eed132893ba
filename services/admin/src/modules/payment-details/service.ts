import { maskAccountReference } from "@roundtrip/contracts";
import type { Sql, Tx } from "@roundtrip/db";
import { HttpError } from "@roundtrip/service";
import type { Principal } from "../../auth.ts";
import type { PaymentDetailsInput, PaymentDetailsRead, PaymentDetailsView } from "./model.ts";

type Stored = PaymentDetailsInput & { affiliate_id: string; updated_at: Date };

/** The only shape payment details leave the database in: the reference masked. */
export function masked(row: Stored): PaymentDetailsView {
  return {
    affiliate_id: row.affiliate_id,
    method: row.method,
    account_reference_masked: maskAccountReference(row.account_reference),
    account_holder: row.account_holder ?? null,
    bic: row.bic ?? null,
    vat_number: row.vat_number ?? null,
    vat_rate: row.vat_rate ?? null,
    updated_at: row.updated_at,
  };
}

/** An affiliate's payment details before any were set: the same shape, nothing in it. */
export function noDetails(affiliateId: string): PaymentDetailsRead {
  return {
    affiliate_id: affiliateId,
    method: null,
    account_reference_masked: null,
    account_holder: null,
    bic: null,
    vat_number: null,
    vat_rate: null,
    updated_at: null,
  };
}

/**
 * An affiliate key reads its own affiliate's records only; anyone else's is a 404 (not a 403:
 * whether another affiliate has details is not the caller's to learn).
 */
export function assertOwnAffiliate(principal: Principal, affiliateId: string): void {
  if (principal.affiliateId !== null && principal.affiliateId !== affiliateId)
    throw new HttpError(404, "not_found", "not found");
}

/** The affiliate a list is filtered to: an affiliate key's own (asking for another's is a 404), else the query's. */
export function affiliateFilter(principal: Principal, requested: string | undefined): string | undefined {
  if (requested) assertOwnAffiliate(principal, requested);
  return principal.affiliateId ?? requested;
}

export async function readDetails(sql: Sql | Tx, affiliateId: string): Promise<PaymentDetailsView | null> {
  const [row] = await sql<Stored[]>`
    select affiliate_id, method, account_reference, account_holder, bic, vat_number, vat_rate::text, updated_at
    from affiliate_payment_details where affiliate_id = ${affiliateId}`;
  return row ? masked(row) : null;
}

export async function writeDetails(
  tx: Tx,
  affiliateId: string,
  body: PaymentDetailsInput,
): Promise<{ before: PaymentDetailsView | null; after: PaymentDetailsView }> {
  const [affiliate] = await tx`select id from affiliates where id = ${affiliateId}`;
  if (!affiliate) throw new HttpError(404, "not_found", "no such affiliate");
  const before = await readDetails(tx, affiliateId);
  const [row] = await tx<Stored[]>`
    insert into affiliate_payment_details (affiliate_id, method, account_reference, account_holder, bic, vat_number, vat_rate)
    values (${affiliateId}, ${body.method}, ${body.account_reference}, ${body.account_holder ?? null}, ${body.bic ?? null},
            ${body.vat_number ?? null}, ${body.vat_rate ?? null})
    on conflict (affiliate_id) do update set
      method = excluded.method, account_reference = excluded.account_reference, account_holder = excluded.account_holder,
      bic = excluded.bic, vat_number = excluded.vat_number, vat_rate = excluded.vat_rate, updated_at = now()
    returning affiliate_id, method, account_reference, account_holder, bic, vat_number, vat_rate::text, updated_at`;
  return { before, after: masked(row as Stored) };
}

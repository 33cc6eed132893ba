/**
 * Secrets out of URLs before they are logged or shown: the value of any query parameter whose
 * name says it is a credential, and the password of `user:password@`. Used by the delivery
 * attempt log and by admin when it shows a delivery.
 */
const SECRET_PARAM = /(token|secret|key|pass|pwd|auth|sig|signature|hash|credential|session)/i;

export function maskUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return raw.replace(/([?&][^=&#]*(?:token|secret|key|pass|pwd|auth|sig|hash)[^=&#]*=)[^&#]*/gi, "$1***");
  }
  if (url.password) url.password = "***";
  for (const name of new Set(url.searchParams.keys())) {
    if (SECRET_PARAM.test(name)) url.searchParams.set(name, "***");
  }
  return url.toString().replaceAll("%2A%2A%2A", "***");
}

/**
 * A payment account reference (IBAN, PayPal e-mail, payee ID) as it may be shown anywhere: its
 * last four characters only, enough to recognise it, never enough to use it.
 */
export function maskAccountReference(reference: string | null | undefined): string | null {
  if (!reference) return null;
  const visible = reference.length > 8 ? reference.slice(-4) : "";
  return `****${visible}`;
}

export {
  SIGNATURE_HEADER,
  SIGNATURE_TOLERANCE_S,
  type SignatureCheck,
  type SignedRequest,
  signPostback,
  tokenMatches,
  verifySignature,
} from "./auth.ts";
export { type AdvertiserEntry, type Directory, type LinkEntry, loadDirectory } from "./directory.ts";
export { DirectoryLookup, type DirectoryLookupOptions } from "./directory-lookup.ts";
export {
  type Admission,
  type Channel,
  type Decision,
  type IntakeDeps,
  type IntakeRequest,
  OUTCOMES,
  type Outcome,
  receive,
  refuse,
  type Source,
} from "./intake.ts";
export { type Allowlist, ipAllowed, normaliseCidr, parseAllowlist, truncateIp } from "./ip.ts";
export {
  CANONICAL_PARAMS,
  canonicalise,
  DEFAULT_ALIASES,
  type FieldError,
  maskSecrets,
  type Params,
  PostbackParams,
  parseTimestamp,
  validate,
} from "./params.ts";
export { relayWaker } from "./relay-waker.ts";
export { type ReceiptRow, ReceiptWriter, type Written, writeReceipts } from "./receipts.ts";
export { type LogRow, RequestLog } from "./request-log.ts";
export {
  clientAddress,
  NO_PROXY,
  type ProxyTrust,
  proxyTrust,
  proxyTrustEnv,
  requestClientAddress,
} from "./client-address.ts";

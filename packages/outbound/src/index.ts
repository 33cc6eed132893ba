/**
 * Requests we send to partners' URLs: the SSRF guard, the pinned-address HTTP request and the
 * Standard Webhooks signature. The delivery sender uses them for every affiliate postback, and
 * admin for a template's "send test" — one guard, so a test cannot reach what a delivery cannot.
 */
export {
  BadTargetError,
  BlockedAddressError,
  type Cidr,
  checkTarget,
  parseCidrs,
  type Resolver,
  refusal,
  type Target,
} from "./ssrf.ts";
export {
  type Limits,
  type OutboundRequest,
  type Response as OutboundResponse,
  SendError,
  send,
  USER_AGENT,
} from "./http.ts";
export { newSecret, signedPayload, webhookHeaders } from "./signing.ts";

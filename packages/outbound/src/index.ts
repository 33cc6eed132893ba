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
export { classify } from "./verdict.ts";
/** Conversions API forwarding (docs/conversions-api.md): payloads, authentication, answers, OAuth tokens. */
export {
  buildRequest,
  type DestinationConfig,
  type ForwardedEvent,
  META_GRAPH_VERSION,
  type Planned,
  sha256,
} from "./conversions-api/payloads.ts";
export { authorize, type Credentials, platformVerdict } from "./conversions-api/requests.ts";
export {
  AccessTokens,
  GOOGLE_TOKEN_URL,
  type RefreshCredentials,
  TokenRefreshError,
} from "./conversions-api/oauth.ts";

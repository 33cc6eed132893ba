export {
  ClickIdCodec,
  parseKeys,
  type ClickIdClaims,
  type ClickIdKey,
  type VerifyResult,
} from "./click-id.ts";

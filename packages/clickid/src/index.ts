export {
  ClickIdCodec,
  clickTimeOf,
  parseKeys,
  type ClickIdClaims,
  type ClickIdKey,
  type VerifyResult,
} from "./click-id.ts";

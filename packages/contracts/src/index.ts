export * from "./events.ts";
export * from "./macros.ts";
export * from "./money.ts";
export * from "./mask.ts";
export * from "./postback-body.ts";
export * from "./currency.ts";
export * from "./text.ts";
export * from "./traffic-reasons.ts";

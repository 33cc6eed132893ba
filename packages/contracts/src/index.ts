export * from "./events.ts";
export * from "./macros.ts";
export * from "./money.ts";

export * from "./adjustments.ts";
export * from "./balances.ts";
export * from "./entries.ts";
export * from "./errors.ts";

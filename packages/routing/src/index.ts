export * from "./clock.ts";
export * from "./geo.ts";
export * from "./language.ts";
export * from "./match.ts";
export * from "./model.ts";

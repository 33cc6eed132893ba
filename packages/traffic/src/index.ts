export * from "./click-judge.ts";
export * from "./ip-lists.ts";
export * from "./settings.ts";

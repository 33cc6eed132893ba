import { type Kind, type Names, optionsOf } from "../names.ts";
import type { Field, Option } from "../components/form.tsx";

export const STATUS_OPTIONS: Option[] = [
  { value: "active", label: "active" },
  { value: "paused", label: "paused" },
];
export const currencyField = (name: string, label: string, required = true): Field => ({
  name,
  label,
  required,
  pattern: "[A-Z]{3}",
  placeholder: "EUR",
  help: "ISO 4217 code",
});
export const opts = (...values: string[]): Option[] =>
  values.map((v) => ({ value: v, label: v.replaceAll("_", " ") }));

/** A select of one kind of thing by name (brand, advertiser, offer, affiliate). */
export const kindField = (
  all: Names,
  kind: Kind,
  name: string,
  label: string,
  options: { required?: boolean; empty?: string } = {},
): Field => ({ name, label, type: "select", options: optionsOf(all, kind), ...options });

/** The ad platforms a conversion is forwarded to (docs/conversions-api.md). */
export const PLATFORMS: Option[] = [
  { value: "meta", label: "Meta (Conversions API)" },
  { value: "google", label: "Google Ads" },
  { value: "tiktok", label: "TikTok (Events API)" },
];
export const platformName = (p: unknown): string =>
  ({ meta: "Meta", google: "Google Ads", tiktok: "TikTok" })[String(p)] ?? String(p ?? "");

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

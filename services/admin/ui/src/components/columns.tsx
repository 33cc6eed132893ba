import type { Kind, Names } from "../names.ts";
import type { Column, Row } from "./table.tsx";
import { Badge, Money, Name, Time } from "./ui.tsx";

/** A column of ids shown as names (the id on hover), sorted, searched and exported by name. */
export function nameColumn<R extends Row>(
  all: Names,
  kind: Kind,
  key: string,
  label: string,
  link = false,
): Column<R> {
  return {
    key,
    label,
    render: (r) => <Name kind={kind} id={r[key] as string} link={link} />,
    value: (r) => all[kind].get(String(r[key]))?.name ?? (r[key] as string),
  };
}

export const timeColumn = <R extends Row>(key: string, label: string): Column<R> => ({
  key,
  label,
  render: (r) => <Time at={r[key] as string} />,
});

export const statusColumn = <R extends Row>(key = "status"): Column<R> => ({
  key,
  render: (r) => <Badge value={r[key] as string} />,
});

export const moneyColumn = <R extends Row>(
  key: string,
  label?: string,
  currency = "currency",
): Column<R> => ({
  key,
  label,
  numeric: true,
  render: (r) => <Money amount={r[key] as string} currency={r[currency] as string} />,
});

/** The six services, in the order `up` prints them. Names and ports are fixed by docs/internals.md. */
export const SERVICE_NAMES = ["admin", "click", "gateway", "attribution", "commission", "delivery"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const DEFAULT_PORTS: Readonly<Record<ServiceName, number>> = {
  admin: 8080,
  click: 8081,
  gateway: 8082,
  attribution: 8083,
  commission: 8084,
  delivery: 8085,
};

export function isServiceName(value: string): value is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(value);
}

import type { ServiceName } from "./services.ts";

function listenOnEphemeralPort() {
  return Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
}

/** A TCP port that was free on 127.0.0.1 a moment ago (the OS picked it for a listener we then closed). */
export function freePort(): number {
  const listener = listenOnEphemeralPort();
  const { port } = listener;
  listener.stop(true);
  return port;
}

/** `count` distinct free ports: all listeners stay open until every port is picked, so none repeats. */
export function freePorts(count: number): number[] {
  const listeners = Array.from({ length: count }, listenOnEphemeralPort);
  const ports = listeners.map((l) => l.port);
  for (const l of listeners) l.stop(true);
  return ports;
}

/** One free port per service name. */
export function freePortsFor<S extends ServiceName>(names: readonly S[]): Record<S, number> {
  const ports = freePorts(names.length);
  return Object.fromEntries(names.map((name, i) => [name, ports[i]])) as Record<S, number>;
}

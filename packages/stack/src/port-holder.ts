import { StackError } from "./errors.ts";
import { freePort } from "./ports.ts";

/** True when nothing can bind 127.0.0.1:`port` (someone listens there, on it or on every address). */
export function portTaken(port: number): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return false;
  } catch {
    return true;
  }
}

/**
 * Who listens on `port`, for a message a person acts on: `postgres (pid 2198)`. `ss` shows the
 * process only for our own processes (or to root); otherwise the answer is "another process".
 */
export function portHolder(port: number): string {
  if (!Bun.which("ss")) return "another process";
  const out = Bun.spawnSync(["ss", "-Hltnp", `sport = :${port}`], { stdout: "pipe", stderr: "ignore" });
  const match = /users:\(\("([^"]+)",pid=(\d+)/.exec(out.stdout.toString());
  return match ? `${match[1]} (pid ${match[2]})` : "another process";
}

/**
 * `preferred` when it is free, else a free port the OS picks — and `onStatus` says which port
 * was taken, by whom, and what we use instead. With `fixed` a taken port is an error instead.
 */
export function choosePort(
  preferred: number,
  what: string,
  options: { fixed?: boolean; onStatus?: (message: string) => void } = {},
): number {
  if (!portTaken(preferred)) return preferred;
  const holder = portHolder(preferred);
  if (options.fixed) {
    throw new StackError(
      "dependency_unavailable",
      `${what}: port ${preferred} is taken by ${holder}; stop it or choose another port`,
    );
  }
  const port = freePort();
  options.onStatus?.(`${what}: port ${preferred} is taken by ${holder}; using ${port} instead`);
  return port;
}

/** True while a process with this id exists (ours or, as root, anyone's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

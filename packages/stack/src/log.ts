import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname } from "node:path";

/**
 * Where a child process's output goes. The last lines are always kept in memory, so a failure can
 * show them; `prefix` also echoes every line to our console (the `up` view), `file` appends them
 * to a file (test runs keep one per service).
 */
export interface LogOptions {
  /** Echo each line to the console as `<prefix><line>`. */
  prefix?: string;
  /** Append each line to this file (its directory is created). */
  file?: string;
  /** How many lines to keep for `tail()` (default 500). */
  keepLines?: number;
}

const DEFAULT_KEEP_LINES = 500;
const DEFAULT_TAIL_LINES = 40;

export class ProcessLog {
  readonly #keep: number;
  readonly #prefix: string | undefined;
  readonly #file: WriteStream | undefined;
  #lines: string[] = [];
  #listeners: Array<(line: string) => void> = [];

  constructor(options: LogOptions = {}) {
    this.#keep = options.keepLines ?? DEFAULT_KEEP_LINES;
    this.#prefix = options.prefix;
    if (options.file) {
      mkdirSync(dirname(options.file), { recursive: true });
      this.#file = createWriteStream(options.file, { flags: "a" });
    }
  }

  /** Record one line (without its newline). */
  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#keep * 2) this.#lines = this.#lines.slice(-this.#keep);
    if (this.#prefix !== undefined) process.stdout.write(`${this.#prefix}${line}\n`);
    this.#file?.write(`${line}\n`);
    for (const listener of this.#listeners) listener(line);
  }

  /** Call `listener` with every line from now on. */
  onLine(listener: (line: string) => void): void {
    this.#listeners.push(listener);
  }

  /** The last `lines` lines, newline-joined. */
  tail(lines = DEFAULT_TAIL_LINES): string {
    return this.#lines.slice(-lines).join("\n");
  }

  /** Read a child's stdout or stderr to its end, line by line. Resolves when the stream closes. */
  async follow(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let rest = "";
    const reader = stream.getReader();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        rest += decoder.decode(value, { stream: true });
        const parts = rest.split("\n");
        rest = parts.pop() ?? "";
        for (const part of parts) this.push(part.replace(/\r$/, ""));
      }
    } catch {
      // The pipe broke (the process was killed); what was read is what there is.
    } finally {
      rest += decoder.decode();
      if (rest) this.push(rest);
    }
  }

  /** Close the log file, if any, once both streams have ended. */
  async close(): Promise<void> {
    const file = this.#file;
    if (!file || file.closed) return;
    await new Promise<void>((resolve) => file.end(resolve));
  }
}

/** Console prefixes like `docker compose`: a padded name, coloured when the console is a terminal. */
export function consolePrefix(name: string, width: number, colourIndex: number): string {
  const label = `${name.padEnd(width)} | `;
  if (!process.stdout.isTTY || process.env.NO_COLOR) return label;
  const colours = [36, 32, 33, 35, 34, 31, 96, 92];
  return `\x1b[${colours[colourIndex % colours.length]}m${label}\x1b[0m`;
}

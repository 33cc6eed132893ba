export type StackErrorCode =
  | "service_exited"
  | "service_not_ready"
  | "command_failed"
  | "dependency_unavailable"
  | "aborted";

/** Every failure of the orchestration: a stable `code`, and the child's last log lines when there is one. */
export class StackError extends Error {
  override name = "StackError";
  readonly code: StackErrorCode;
  /** The last lines the process wrote, when a process is involved. */
  readonly logTail: string | undefined;

  constructor(code: StackErrorCode, message: string, options: { logTail?: string; cause?: unknown } = {}) {
    const tail = options.logTail?.trim();
    super(tail ? `${message}\n--- last log lines ---\n${tail}\n---` : message, { cause: options.cause });
    this.code = code;
    this.logTail = options.logTail;
  }
}

export function isStackError(err: unknown, code?: StackErrorCode): err is StackError {
  return err instanceof StackError && (code === undefined || err.code === code);
}

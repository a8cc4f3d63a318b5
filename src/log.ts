/**
 * Logging to stderr, one line per event, prefixed with the program name.
 * stderr is shared with the go command, so only warnings appear by default;
 * -v adds lifecycle lines, --debug adds one line per request.
 */
export interface Logger {
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  readonly debugEnabled: boolean;
}

export interface LoggerOptions {
  verbose: boolean;
  debug: boolean;
  /** Where lines go; defaults to stderr. */
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions): Logger {
  const write = opts.write ?? ((line: string) => void process.stderr.write(line));
  const emit = (msg: string) => write(`go-cache-plugin: ${msg}\n`);
  const none = () => {};
  return {
    warn: emit,
    info: opts.verbose || opts.debug ? emit : none,
    debug: opts.debug ? emit : none,
    debugEnabled: opts.debug,
  };
}

/** Formats an error with its causes on one line: "outer: inner: innermost". */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 5; depth++) {
    if (e instanceof Error) {
      parts.push(e.message);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(": ");
}

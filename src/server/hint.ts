/**
 * A session hint: a name for "this build" that is known the moment the
 * plugin starts, long before the go command's first get (which comes after
 * it has loaded every package: ~100 ms for `go build std`). A fresh runner
 * looks its manifest up by this hint at start-up, so prefetch overlaps the
 * go command's package loading instead of following it. The hint is the
 * SHA-256 of the working directory, the go command's arguments and the
 * variables that change every cache key; builds that share all of them are
 * the same build as far as a prefetch can tell. A wrong guess only costs
 * prefetched bytes (every entry is still verified and asked for by key).
 */
import { readFileSync } from "node:fs";

/** Variables that select a different set of cache entries for the same command. */
const KEYED_ENV = ["GOOS", "GOARCH", "GOFLAGS", "GOEXPERIMENT", "CGO_ENABLED", "GOAMD64", "GOARM64", "GOTOOLCHAIN"] as const;

export interface HintInput {
  cwd: string;
  /** The go command's argv. */
  args: string[];
  env: Record<string, string | undefined>;
}

export function sessionHint(input: HintInput): string {
  const env = KEYED_ENV.map((k) => `${k}=${input.env[k] ?? ""}`);
  return new Bun.CryptoHasher("sha256").update(JSON.stringify([input.cwd, input.args, env])).digest("hex");
}

/**
 * The hint of the go command that started this process (direct mode: our
 * parent), or undefined where its arguments cannot be read (not Linux, or
 * /proc hidden).
 */
export function parentHint(): string | undefined {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${process.ppid}/cmdline`, "utf8");
  } catch {
    return undefined;
  }
  const args = cmdline.split("\0");
  if (args.at(-1) === "") args.pop();
  return args.length > 0 ? sessionHint({ cwd: process.cwd(), args, env: process.env }) : undefined;
}

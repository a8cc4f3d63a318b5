/**
 * Installing bytes that came from elsewhere (a bucket, a manifest pack) into
 * the local store: nothing is installed unless its SHA-256 equals its output
 * ID and its size is the record's. Synchronous: the protocol loop installs
 * pack entries with it on the reply path.
 */
import type { LocalStore } from "./local.ts";
import { sha256Hex } from "./local.ts";
import type { ActionRecord, Mapping } from "./store.ts";
import { describeError } from "../log.ts";

export type InstallOutcome =
  | { hit: ActionRecord; bytes: number }
  /** `outputId`: the output whose copy failed its check. */
  | { miss: "digest-mismatch"; detail: string; outputId: string }
  /** Local trouble (kind "local/<errno>"): a miss, and the bytes' source is not to blame. */
  | { error: { kind: string; message: string } };

/** The miss for bytes whose SHA-256 is not the entry's output ID; undefined when it is. */
export const digestMismatch = (e: Mapping, digest: string): InstallOutcome | undefined =>
  digest === e.outputId ? undefined : { miss: "digest-mismatch", detail: `output ${e.outputId} has SHA-256 ${digest}`, outputId: e.outputId };

/** The miss for bytes whose size is not the record's; undefined when it is (or the record has none: size < 0). */
export const sizeMismatch = (e: Mapping, size: number): InstallOutcome | undefined =>
  e.size < 0 || size === e.size ? undefined : { miss: "digest-mismatch", detail: `output ${e.outputId} is ${size} bytes, the record says ${e.size}`, outputId: e.outputId };

/** Local trouble (full disk, read-only or unwritable directory) while installing. */
export function localFailure(e: Mapping, err: unknown): InstallOutcome {
  const code = (err as NodeJS.ErrnoException)?.code ?? ((err as Error)?.cause as NodeJS.ErrnoException)?.code ?? "Error";
  return { error: { kind: `local/${code}`, message: `[local] install output ${e.outputId}: ${describeError(err)}` } };
}

/**
 * Installs `body` as the entry's output if and only if its SHA-256 is the
 * output ID. The action record is the caller's to keep (see
 * deferred-actions.ts): the outcome carries it.
 */
export function installVerified(local: LocalStore, e: Mapping, body: Uint8Array): InstallOutcome {
  const bad = digestMismatch(e, sha256Hex(body)) ?? sizeMismatch(e, body.length);
  if (bad) return bad;
  try {
    local.putObjectBytes(e.outputId, body);
  } catch (err) {
    return localFailure(e, err);
  }
  return { hit: { outputId: e.outputId, size: body.length, timeNanos: e.timeNanos }, bytes: body.length };
}

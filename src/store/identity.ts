/**
 * Who wrote a temporary file or a journal, in a form that stays unique and
 * decidable when several threads, processes, containers (with overlapping
 * PIDs) and hosts share one cache directory:
 *
 *   <space>-<pid>-<nonce>
 *
 * `space` names the PID namespace on this boot (8 hex digits of SHA-256 of
 * the boot ID and /proc/self/ns/pid), or "x" where that cannot be read;
 * `nonce` is random per thread (each worker loads this module afresh). A
 * writer is known to be gone only when it shares our space and its PID is
 * not running; anything else must be judged by age.
 */
import { readFileSync, readlinkSync } from "node:fs";

let space: string | undefined;
let self: string | undefined;
let counter = 0;

/** Our PID namespace on this boot ("x" when unknown). */
export function pidSpace(): string {
  if (space !== undefined) return space;
  try {
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim();
    const ns = readlinkSync("/proc/self/ns/pid");
    space = new Bun.CryptoHasher("sha256").update(`${boot} ${ns}`).digest("hex").slice(0, 8);
  } catch {
    space = "x";
  }
  return space;
}

/** This thread's writer identity. */
export function writerId(): string {
  return (self ??= `${pidSpace()}-${process.pid}-${crypto.getRandomValues(new Uint8Array(4)).toHex()}`);
}

/** A name part unique to this call: the writer identity and a counter. */
export function uniqueTag(): string {
  return `${writerId()}-${++counter}`;
}

const WRITER = /^([0-9a-f]{8}|x)-(\d{1,10})-([0-9a-f]{8})/;

/** The writer identity at the start of `name`, if it has one. */
export function parseWriter(name: string): { space: string; pid: number } | undefined {
  const m = WRITER.exec(name);
  return m ? { space: m[1]!, pid: Number(m[2]) } : undefined;
}

/** True only when the writer is provably gone: our PID space, and its PID is not running. */
export function writerGone(w: { space: string; pid: number }): boolean {
  if (w.space === "x" || w.space !== pidSpace()) return false;
  if (w.pid === process.pid) return false;
  try {
    process.kill(w.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * What one session did, for its manifest and the prefetch counters: the
 * first action IDs it asked for (the manifest index keys), every entry it
 * used (hits and puts), and what prefetch brought in for it.
 */
import type { PackedEntry } from "./worker/messages.ts";
import type { ActionRecord, Mapping, SessionHandle } from "../store/store.ts";
import { entryHash, traceName } from "./usage.ts";

/** How many of a session's first gets index its manifest. */
export const INDEXED_GETS = 16;

let nextSession = 1;

export class SessionLedger implements SessionHandle {
  readonly id = nextSession++;
  readonly firstGets: string[] = [];
  readonly used = new Map<string, Mapping>();
  /** Prefetched for this session and not yet asked for: action ID -> bytes. */
  readonly prefetched = new Map<string, number>();
  /** The manifest pack's entries not installed yet (unverified bytes), by action ID. */
  readonly packed = new Map<string, PackedEntry>();
  /** Puts of this session whose upload is not done. */
  readonly uploading = new Set<string>();
  /** The manifest this session prefetched from. */
  manifestKey: string | undefined;

  noteGet(actionId: string): void {
    if (this.firstGets.length < INDEXED_GETS && !this.firstGets.includes(actionId)) this.firstGets.push(actionId);
  }

  /** Names the set `used` holds, kept up to date as it changes (usage.ts: what the local marker is called). */
  get traceId(): string {
    return traceName(this.traceSum, this.used.size);
  }
  private traceSum = 0n;

  noteUse(actionId: string, e: ActionRecord): void {
    const old = this.used.get(actionId);
    if (old?.outputId !== e.outputId) this.traceSum = BigInt.asUintN(64, this.traceSum + entryHash(actionId, e.outputId) - (old ? entryHash(actionId, old.outputId) : 0n));
    this.used.set(actionId, { actionId, outputId: e.outputId, size: e.size, timeNanos: e.timeNanos });
    this.packed.delete(actionId); // got some other way (before the pack came): not waste
  }

  /** Keeps a pack entry for its get, unless the session already has that action. */
  notePacked(p: PackedEntry): void {
    if (!this.used.has(p.entry.actionId)) this.packed.set(p.entry.actionId, p);
  }

  /** True when this get was answered by prefetch (counted once). */
  takePrefetched(actionId: string): boolean {
    return this.prefetched.delete(actionId);
  }

  /** The pack's entry for this action, taken out (it is installed at most once). */
  takePacked(actionId: string): PackedEntry | undefined {
    const p = this.packed.get(actionId);
    if (p) this.packed.delete(actionId);
    return p;
  }

  /** Bytes prefetched (installed, or brought in a pack) and never asked for. */
  wastedBytes(): number {
    let n = 0;
    for (const b of this.prefetched.values()) n += b;
    for (const p of this.packed.values()) n += p.bytes.length;
    return n;
  }
}

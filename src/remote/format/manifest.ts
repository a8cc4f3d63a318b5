/**
 * Manifests and their index pointers (layout.ts lists the keys):
 *
 *   [<prefix>/]manifest/<sha256>   gzip of the manifest text, named by entriesDigest (what its entries map):
 *                                  ["gcp-manifest-sig <key id>:<mac>\n"]   (signed writers only)
 *                                  "<action id> <output id> <size> <unix nanos>\n" per entry
 *   [<prefix>/]manifest-index/<xx>/<action id>
 *                                  "<manifest key>[ sig:<key id>:<mac>]"
 *
 * The manifest signature (trust/sign.ts, kind "manifest") is over the
 * SHA-256 of the entry lines exactly as stored (everything after the first
 * line); a pointer's (kind "pointer") over its action and the manifest's
 * hash. Readers without a key skip the signature line as they skip any
 * line that is not an entry, and take the pointer's first field.
 */
import type { Mapping } from "../../store/store.ts";
import { MANIFEST_ENTRIES_MAX, MANIFEST_TEXT_MAX } from "./layout.ts";

// Any signature token is taken here (and checked by the keyring, trust/sign.ts): readers without a key skip it, whatever its form.
const SIG_LINE = /^gcp-manifest-sig (\S{1,400})$/;

/** A decoded manifest: its entries, the signature it carries (unchecked) and the SHA-256 of its entry lines (what that signs). */
export interface DecodedManifest { entries: Mapping[]; signature?: string; digest: string }

const sha256Hex = (b: Uint8Array | string) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/**
 * Names a set of entries by what they map (action ID to output ID), whatever
 * order they were used in and whatever times they carry: the hash under
 * which their manifest and pack are stored, so the same build gives the same
 * key on every runner (the go command re-puts a few entries with new times
 * on every build), and its manifest's age is the age of their last use.
 */
export function entriesDigest(entries: Iterable<Mapping>): string {
  const lines = [...entries].map((e) => `${e.actionId} ${e.outputId}\n`).sort();
  const h = new Bun.CryptoHasher("sha256");
  for (const l of lines) h.update(l);
  return h.digest("hex");
}

/** The entry lines of a manifest (what a manifest signature is over, through their SHA-256). */
export function manifestText(entries: Mapping[]): string {
  return entries.map((e) => `${e.actionId} ${e.outputId} ${e.size} ${e.timeNanos}\n`).join("");
}

export const manifestDigest = (entries: Mapping[]) => sha256Hex(manifestText(entries));

/** The stored manifest; `signature` (a token over manifestDigest(entries)) goes on its first line. */
export function encodeManifest(entries: Mapping[], signature?: string): Uint8Array {
  return Bun.gzipSync(new TextEncoder().encode(`${signature ? `gcp-manifest-sig ${signature}\n` : ""}${manifestText(entries)}`));
}

/** The entries; undefined when it is not gzip, inflates beyond MANIFEST_TEXT_MAX (a bomb) or lists more than MANIFEST_ENTRIES_MAX. */
export function decodeManifest(bytes: Uint8Array): Mapping[] | undefined {
  return decodeSignedManifest(bytes)?.entries;
}

/** decodeManifest, with the signature and the digest it should sign. */
export function decodeSignedManifest(bytes: Uint8Array): DecodedManifest | undefined {
  let raw: Uint8Array;
  try {
    // node:zlib (for its output bound) is loaded here, in the worker, never on the protocol loop's start-up path.
    const { gunzipSync } = require("node:zlib") as typeof import("node:zlib");
    raw = gunzipSync(bytes, { maxOutputLength: MANIFEST_TEXT_MAX });
  } catch {
    return undefined;
  }
  const nl = raw.indexOf(10);
  const sig = nl > 0 && nl < 500 ? SIG_LINE.exec(new TextDecoder().decode(raw.subarray(0, nl))) : null;
  const body = sig ? raw.subarray(nl + 1) : raw;
  const out: Mapping[] = [];
  for (const line of new TextDecoder().decode(body).split("\n")) {
    const m = /^([0-9a-f]{64}) ([0-9a-f]{64}) (\d{1,15}) (\d{1,20})$/.exec(line);
    if (!m) continue;
    if (out.length >= MANIFEST_ENTRIES_MAX) return undefined;
    out.push({ actionId: m[1]!, outputId: m[2]!, size: Number(m[3]), timeNanos: BigInt(m[4]!) });
  }
  return { entries: out, digest: sha256Hex(body), ...(sig ? { signature: sig[1]! } : {}) };
}

export function encodePointer(manifestKey: string, signature?: string): Uint8Array {
  return new TextEncoder().encode(signature ? `${manifestKey} sig:${signature}` : manifestKey);
}

/** The manifest key a pointer names and the signature it carries (unchecked); the key is checked by the reader. */
export function decodePointer(bytes: Uint8Array): { key: string; signature?: string } {
  const text = new TextDecoder().decode(bytes).trim();
  const m = /^(\S+) sig:(\S{1,400})$/.exec(text);
  return m ? { key: m[1]!, signature: m[2]! } : { key: text };
}

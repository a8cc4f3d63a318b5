/**
 * The signing key file (--signing-key-file, GOCACHE_SIGNING_KEY_FILE): one
 * key a line, blank lines and `#` comments ignored:
 *
 *   <key id> <secret> [<namespace>[,<namespace>...]]
 *
 * The first key signs everything this process writes; every key verifies
 * (so a new key is put first and the old one kept below it until the
 * records it signed have aged out). A key with namespaces verifies records
 * read from those prefixes only (`/` names the bucket root, an empty
 * --prefix); one without verifies every namespace. The signing key must
 * cover this process's own --prefix.
 *
 * Key IDs are 1-64 of [A-Za-z0-9._-]; a secret is 16-1024 printable
 * characters without spaces (its bytes are the HMAC key). The file must
 * not be readable or writable by group or others, like ssh's key files.
 * No error or log line ever shows a secret: errors name the file and the
 * line number only.
 */
import { MODE_BITS_MEAN_ACCESS } from "../../platform.ts";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";

export interface TrustKey {
  id: string;
  /** The HMAC key. */
  secret: Uint8Array;
  /** Namespaces (prefixes, "" for the root) whose records it verifies; undefined: all. */
  scope?: string[];
}

/** Bound on the file: a few keys, not a data file. */
const KEY_FILE_MAX = 64 * 1024;
const ID = /^[A-Za-z0-9._-]{1,64}$/;
const SECRET = /^[\x21-\x7e]{16,1024}$/;

export class KeyFileError extends Error {}

/** Reads and checks the key file; `ownPrefix` is --prefix (the signing key must cover it). */
export function loadKeyFile(path: string, ownPrefix: string): TrustKey[] {
  let text: string;
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK); // a FIFO planted there must not block start-up
    const st = fstatSync(fd);
    if (!st.isFile()) throw new KeyFileError(`[trust] signing key file ${path}: not a regular file`);
    if (MODE_BITS_MEAN_ACCESS && (st.mode & 0o077) !== 0) {
      throw new KeyFileError(`[trust] signing key file ${path} is accessible by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}): run chmod 600 on it`);
    }
    if (st.size > KEY_FILE_MAX) throw new KeyFileError(`[trust] signing key file ${path}: larger than ${KEY_FILE_MAX} bytes`);
    const buf = new Uint8Array(Math.max(st.size, 1));
    const n = readSync(fd, buf, 0, buf.length, 0);
    text = new TextDecoder().decode(buf.subarray(0, n));
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    throw new KeyFileError(`[trust] read signing key file ${path}`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return parseKeyFile(text, path, ownPrefix);
}

/** Parses the key file's text (see the module comment); `where` names it in errors. */
export function parseKeyFile(text: string, where: string, ownPrefix: string): TrustKey[] {
  const keys: TrustKey[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const bad = (why: string) => new KeyFileError(`[trust] signing key file ${where}, line ${i + 1}: ${why}`);
    const fields = line.split(/[ \t]+/);
    if (fields.length < 2 || fields.length > 3) throw bad("expected '<key id> <secret> [<namespace>,...]'");
    const [id, secret, scope] = fields as [string, string, string | undefined];
    if (!ID.test(id)) throw bad("a key id is 1-64 letters, digits, '.', '_' or '-'");
    if (!SECRET.test(secret)) throw bad("a secret is 16-1024 printable characters without spaces");
    if (keys.some((k) => k.id === id)) throw bad(`key id ${id} is listed twice`);
    keys.push({ id, secret: new TextEncoder().encode(secret), scope: scope === undefined ? undefined : parseScope(scope, bad) });
  }
  if (keys.length === 0) throw new KeyFileError(`[trust] signing key file ${where}: no keys`);
  const signer = keys[0]!;
  if (signer.scope && !signer.scope.includes(ownPrefix)) {
    throw new KeyFileError(`[trust] signing key file ${where}: the first key (${signer.id}) signs this process's records but its namespaces do not include --prefix ${JSON.stringify(ownPrefix || "/")}`);
  }
  return keys;
}

function parseScope(raw: string, bad: (why: string) => Error): string[] {
  const out = raw.split(",").map((p) => (p === "/" ? "" : p.replace(/^\/+|\/+$/g, "")));
  if (out.some((p, i) => p === "" && raw.split(",")[i] !== "/")) throw bad("an empty namespace (write / for the bucket root)");
  return out;
}

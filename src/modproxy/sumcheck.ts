/**
 * Format checks of checksum-database answers, as golang.org/x/mod/sumdb
 * parses them (tlog.ParseRecord, tlog.ParseTree, note.Open). Signatures and
 * proofs are the go command's business; these checks only keep what could
 * never verify out of the cache.
 *
 * A lookup answer is
 *
 *   <record id>\n
 *   <module> <version> h1:<base64 SHA-256>\n
 *   <module> <version>/go.mod h1:<base64 SHA-256>\n
 *   \n
 *   <signed tree note>
 *
 * and a signed tree note (also the answer to `latest`) is
 *
 *   go.sum database tree\n<size>\n<base64 root hash>\n[more lines\n]
 *   \n
 *   — <signer name> <base64 key hash + signature>\n   (one or more)
 *
 * with one signature by the database itself. Module path and version in the
 * records are the requested ones, unescaped.
 */

const HASH = /^[A-Za-z0-9+/]{43}=$/; // base64 of 32 bytes
const MAX_INT64 = (1n << 63n) - 1n;
const MAX_SIGS = 100;

const decoder = new TextDecoder("utf-8", { fatal: true });

/** `bytes` as text when it is UTF-8 without ASCII controls other than newline. */
function noteText(bytes: Uint8Array): string | undefined {
  let s: string;
  try { s = decoder.decode(bytes); } catch { return undefined; }
  return /[\x00-\x09\x0b-\x1f]/.test(s) ? undefined : s;
}

const int64 = (s: string) => (/^\d{1,19}$/.test(s) && BigInt(s) <= MAX_INT64 ? BigInt(s) : undefined);

/** Why `note` is not a signed tree head of database `db`, or its tree size. */
function treeOf(note: string, db: string): { size: bigint } | { error: string } {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) return { error: "signed note: no blank line before the signatures" };
  const text = note.slice(0, split + 1), sigs = note.slice(split + 2);
  if (sigs === "" || !sigs.endsWith("\n")) return { error: "signed note: no signature lines" };
  const lines = sigs.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGS) return { error: "signed note: too many signatures" };
  let byDb = false;
  for (const line of lines) {
    const m = /^\u2014 ([^ ]+) ([A-Za-z0-9+/]*={0,2})$/.exec(line);
    if (!m || /[\s+]/u.test(m[1]!) || m[2]!.length % 4 !== 0 || Buffer.from(m[2]!, "base64").length < 5) return { error: `signed note: malformed signature line ${JSON.stringify(line.slice(0, 80))}` };
    if (m[1] === db) byDb = true;
  }
  if (!byDb) return { error: `signed note: no signature by ${db}` };
  const f = text.split("\n");
  if (f.length < 4 || f[0] !== "go.sum database tree") return { error: "signed note: not a go.sum database tree" };
  const size = int64(f[1]!);
  if (size === undefined) return { error: `tree: bad size ${JSON.stringify(f[1]!.slice(0, 40))}` };
  if (!HASH.test(f[2]!)) return { error: "tree: bad root hash" };
  return { size };
}

/** Why `bytes` is not a signed tree head (the `latest` answer) of database `db`; undefined when it is one. */
export function checkSignedTree(bytes: Uint8Array, db: string): string | undefined {
  const s = noteText(bytes);
  if (s === undefined) return "signed note: not UTF-8 text without control characters";
  const t = treeOf(s, db);
  return "error" in t ? t.error : undefined;
}

/** Why `bytes` is not database `db`'s lookup answer for `module`@`version` (unescaped); undefined when it is one. */
export function checkLookup(bytes: Uint8Array, db: string, module: string, version: string): string | undefined {
  const s = noteText(bytes);
  if (s === undefined) return "lookup: not UTF-8 text without control characters";
  const nl = s.indexOf("\n");
  const id = nl < 0 ? undefined : int64(s.slice(0, nl));
  if (id === undefined) return "lookup: no record number line";
  const end = s.indexOf("\n\n", nl + 1);
  if (end < 0) return "lookup: no blank line after the records";
  const records = s.slice(nl + 1, end).split("\n");
  if (/[\ufff0-\uffff]/.test(s.slice(nl + 1, end))) return "lookup: records hold reserved characters";
  const want = [`${module} ${version} h1:`, `${module} ${version}/go.mod h1:`];
  const seen = want.map((w) => records.filter((r) => r.startsWith(w) && HASH.test(r.slice(w.length))).length);
  if (seen.some((n) => n !== 1) || records.length !== 2) return `lookup: records are not exactly the h1: hashes of ${module}@${version} and its go.mod`;
  const t = treeOf(s.slice(end + 2), db);
  if ("error" in t) return `lookup: ${t.error}`;
  if (id >= t.size) return `lookup: record ${id} is not in the tree of size ${t.size}`;
  return undefined;
}

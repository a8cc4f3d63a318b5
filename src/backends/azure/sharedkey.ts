/**
 * Shared Key signing for the Blob service (the "Authorize with Shared Key"
 * scheme, version 2015-02-21 and later): an HMAC-SHA256, under the
 * account key, of the request's method, standard headers, x-ms-* headers
 * and resource.
 */

/** What a signature covers. Header names may be in any case. */
export interface SignedRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** The body's length (0 for none); signed as the empty string when 0. */
  contentLength: number;
}

/** The standard headers, in the order the string to sign lists them (Content-Length is inserted apart). */
const STANDARD = ["content-encoding", "content-language", "content-length", "content-md5", "content-type", "date", "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range"];

/** `x-ms-name:value` lines, names lower-cased and sorted, values with runs of white space folded. */
function canonicalHeaders(headers: Map<string, string>): string {
  return [...headers]
    .filter(([name]) => name.startsWith("x-ms-"))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}:${value.replace(/\s+/g, " ").trim()}\n`)
    .join("");
}

/** `/account/path`, then one `name:v1,v2` line per query parameter (names lower-cased and sorted, values decoded and sorted). */
export function canonicalResource(account: string, url: URL): string {
  const params = new Map<string, string[]>();
  for (const [name, value] of url.searchParams) {
    const lower = name.toLowerCase();
    params.set(lower, [...(params.get(lower) ?? []), value]);
  }
  const lines = [...params.keys()].sort().map((name) => `\n${name}:${params.get(name)!.sort().join(",")}`);
  return `/${account}${url.pathname}${lines.join("")}`;
}

/** The string the signature is computed over. */
export function stringToSign(account: string, req: SignedRequest): string {
  const headers = new Map(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const standard = STANDARD.map((name) => (name === "content-length" ? (req.contentLength ? String(req.contentLength) : "") : (headers.get(name) ?? "")));
  return `${req.method.toUpperCase()}\n${standard.join("\n")}\n${canonicalHeaders(headers)}${canonicalResource(account, req.url)}`;
}

/** A signer for one account: the Authorization header's value for a request. */
export function sharedKeySigner(account: string, base64Key: string): (req: SignedRequest) => string {
  const key = Uint8Array.fromBase64(base64Key);
  return (req) => {
    const mac = new Bun.CryptoHasher("sha256", key).update(stringToSign(account, req)).digest("base64");
    return `SharedKey ${account}:${mac}`;
  };
}

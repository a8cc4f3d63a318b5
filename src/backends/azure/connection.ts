/**
 * AZURE_STORAGE_CONNECTION_STRING, parsed and checked: where the account's
 * Blob service is and which secret signs for it. A value that names another
 * account, or that cannot be read, is refused with the reason (never the
 * secret).
 */
import { isLoopbackHost } from "../../blob/http.ts";

/** Azurite's documented development account and key (public, not a secret). */
export const DEV_ACCOUNT = "devstoreaccount1";
export const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_ENDPOINT = `http://127.0.0.1:10000/${DEV_ACCOUNT}`;

export interface ConnectionInfo {
  /** The Blob service's base URL, no trailing slash (path-style for an emulator). */
  endpoint: string;
  /** A base64 account key (Shared Key signing), when given. */
  key?: string;
  /** A SAS query string without "?", when given and there is no key. */
  sas?: string;
}

/** Keys a connection string may carry that the Blob service does not use. */
const IGNORED = new Set(["queueendpoint", "tableendpoint", "fileendpoint", "dfsendpoint", "blobsecondaryendpoint", "queuesecondaryendpoint", "tablesecondaryendpoint", "filesecondaryendpoint", "developmentstorageproxyuri"]);
const USED = new Set(["defaultendpointsprotocol", "accountname", "accountkey", "blobendpoint", "sharedaccesssignature", "endpointsuffix", "usedevelopmentstorage"]);
const MAX_LENGTH = 8192;

/** A base64 account key: validated so that a pasted fragment fails here, not as a 403 later. */
export function checkKey(key: string): string {
  if (!/^[A-Za-z0-9+/]{20,}={0,2}$/.test(key) || key.length % 4 !== 0 || key.length > 1024) throw new Error("the account key is not base64");
  return key;
}

/** A SAS token without its leading "?": URL query characters only, with a signature. */
export function checkSas(sas: string): string {
  const s = sas.trim().replace(/^\?/, "");
  if (s.length > 4096 || !/^[A-Za-z0-9%&=._~:+/,*-]+$/.test(s)) throw new Error("the SAS token is not a URL query string");
  if (!/(^|&)sig=[^&]+/.test(s)) throw new Error("the SAS token has no sig= signature");
  return s;
}

/** An endpoint URL from configuration: http(s), no credentials, query or fragment. */
export function checkEndpoint(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`BlobEndpoint ${JSON.stringify(raw.slice(0, 200))} is not a URL`);
  }
  if ((u.protocol !== "https:" && u.protocol !== "http:") || u.username || u.password || u.search || u.hash) {
    throw new Error(`BlobEndpoint ${JSON.stringify(`${u.protocol}//${u.host}${u.pathname}`)} must be a plain http(s) URL`);
  }
  // Signed requests and SAS tokens must not cross a network in clear.
  if (u.protocol === "http:" && !isLoopbackHost(u.hostname)) throw new Error(`BlobEndpoint ${JSON.stringify(`${u.protocol}//${u.host}${u.pathname}`)} must be https (plain http only to this machine)`);
  return `${u.origin}${u.pathname}`.replace(/\/+$/, "");
}

/**
 * The connection for `account` (the one in az://ACCOUNT/...). Throws an
 * Error whose message says what is wrong: a malformed pair, an unknown key,
 * an AccountName for another account, or no AccountKey/SharedAccessSignature.
 */
export function parseConnectionString(text: string, account: string): ConnectionInfo {
  if (text.length > MAX_LENGTH) throw new Error(`longer than ${MAX_LENGTH} characters`);
  const fields = new Map<string, string>();
  for (const part of text.trim().split(";")) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    const name = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (eq <= 0 || !/^[A-Za-z]+$/.test(name)) throw new Error(`malformed part ${JSON.stringify(name.slice(0, 40))} (expected Name=Value)`);
    const lower = name.toLowerCase();
    if (!USED.has(lower) && !IGNORED.has(lower)) throw new Error(`unknown setting ${name}`);
    if (fields.has(lower)) throw new Error(`${name} is given twice`);
    fields.set(lower, part.slice(eq + 1).trim());
  }
  if (fields.get("usedevelopmentstorage")?.toLowerCase() === "true") {
    if (account !== DEV_ACCOUNT) throw new Error(`UseDevelopmentStorage is the account ${DEV_ACCOUNT}, not ${JSON.stringify(account)}`);
    return { endpoint: DEV_ENDPOINT, key: DEV_KEY };
  }
  const name = fields.get("accountname");
  if (name !== undefined && name !== account) {
    throw new Error(`AccountName ${JSON.stringify(name.slice(0, 64))} is not the account in the bucket URL (${JSON.stringify(account)})`);
  }
  const protocol = (fields.get("defaultendpointsprotocol") ?? "https").toLowerCase();
  if (protocol !== "https" && protocol !== "http") throw new Error(`DefaultEndpointsProtocol must be https or http`);
  if (protocol === "http" && !fields.get("blobendpoint")) throw new Error(`DefaultEndpointsProtocol=http would send credentials in clear to Azure: use https (plain http only with a BlobEndpoint on this machine)`);
  const suffix = fields.get("endpointsuffix") ?? "core.windows.net";
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(suffix)) throw new Error(`EndpointSuffix ${JSON.stringify(suffix.slice(0, 64))} is not a host name`);
  const blob = fields.get("blobendpoint");
  const endpoint = blob ? checkEndpoint(blob) : `${protocol}://${account}.blob.${suffix}`;
  const key = fields.get("accountkey");
  if (key) return { endpoint, key: checkKey(key) };
  const sas = fields.get("sharedaccesssignature");
  if (sas) return { endpoint, sas: checkSas(sas) };
  throw new Error("it has neither AccountKey nor SharedAccessSignature");
}

/**
 * Which credential authorizes requests to an Azure container, in this
 * order: AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY (Shared Key),
 * AZURE_STORAGE_SAS_TOKEN, then the DefaultAzureCredential chain (Entra ID
 * tokens, identity.ts). A set but unusable variable is an error at open;
 * the token chain is resolved on the first request and kept for the store's
 * life (a machine does not grow a managed identity mid-build).
 *
 * Secrets never reach a message: only the variable's name and the reason.
 */
import { BlobError } from "../../blob/port.ts";
import { checkKey, checkSas, parseConnectionString } from "./connection.ts";
import { SourceUnavailable, type AccessToken, type TokenSource } from "./entra.ts";
import { tokenSources } from "./identity.ts";
import { sharedKeySigner, type SignedRequest } from "./sharedkey.ts";

export interface Credential {
  /** The Blob service's base URL, no trailing slash. */
  readonly endpoint: string;
  /** Which credential is used, for messages (for the token chain: the source found, once found). */
  source(): string;
  /** Authorizes one request (headers x-ms-date and x-ms-version already set): the URL to send. */
  authorize(req: SignedRequest): Promise<URL>;
}

export interface CredentialOptions {
  account: string;
  container: string;
  env: Record<string, string | undefined>;
  timeoutMs: number;
}

/** A refresh starts this long before a token expires, so no request carries one that dies on the way. */
const REFRESH_EARLY_MS = 60_000;

/** `sig=` values (a SAS's signature) replaced, for any URL or text that may be shown. */
export function redact(text: string): string {
  return text.replace(/\bsig=[^&\s"'<>]*/gi, "sig=REDACTED");
}

/** The URL with a SAS query appended to any query it has. */
export function withSas(url: URL, sas: string): URL {
  return new URL(`${url.href}${url.search ? "&" : "?"}${sas}`);
}

export function missingCredentials(label: string, tried: string[]): BlobError {
  const why = tried.length ? ` (tried: ${tried.join("; ")})` : "";
  return new BlobError("denied", `${label}: no credentials found: set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or configure a managed identity / workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE)${why}`);
}

function sharedKey(endpoint: string, account: string, key: string, source: string): Credential {
  const sign = sharedKeySigner(account, key);
  return { endpoint, source: () => source, authorize: async (req) => ((req.headers.Authorization = sign(req)), req.url) };
}

function sasToken(endpoint: string, sas: string, source: string): Credential {
  return { endpoint, source: () => source, authorize: async (req) => withSas(req.url, sas) };
}

/** Tokens from the first source that applies; cached until shortly before expiry; one refresh at a time. */
export function tokenCredential(endpoint: string, sources: TokenSource[], label: string): Credential {
  let chosen: TokenSource | undefined;
  let none: BlobError | undefined;
  let current: AccessToken | undefined;
  let inflight: Promise<AccessToken> | undefined;
  const refresh = async (): Promise<AccessToken> => {
    if (chosen) return chosen.fetch();
    const tried: string[] = [];
    for (const s of sources) {
      try {
        const t = await s.fetch();
        chosen = s;
        return t;
      } catch (err) {
        if (!(err instanceof SourceUnavailable)) throw err;
        tried.push(err.message);
      }
    }
    throw (none = missingCredentials(label, tried));
  };
  const token = async (): Promise<string> => {
    if (current && Date.now() < current.expiresAtMs - REFRESH_EARLY_MS) return current.token;
    if (none) throw none;
    inflight ??= refresh().then((t) => (current = t)).finally(() => (inflight = undefined));
    try {
      return (await inflight).token;
    } catch (err) {
      // A failed early refresh is no reason to drop a token that still works.
      if (current && Date.now() < current.expiresAtMs) return current.token;
      throw err;
    }
  };
  return {
    endpoint,
    source: () => chosen?.name ?? "DefaultAzureCredential chain",
    authorize: async (req) => ((req.headers.Authorization = `Bearer ${await token()}`), req.url),
  };
}

/** The credential the environment gives; throws a one-line BlobError (kind "denied") naming the variable when one is set but unusable. */
export function openCredential(o: CredentialOptions): Credential {
  const label = `[azure] az://${o.account}/${o.container}`;
  const defaultEndpoint = `https://${o.account}.blob.core.windows.net`;
  const fail = (variable: string, err: unknown) => new BlobError("denied", `${label}: ${variable}: ${(err as Error).message}`, { cause: err });
  const { AZURE_STORAGE_CONNECTION_STRING: conn, AZURE_STORAGE_KEY: key, AZURE_STORAGE_ACCOUNT: account, AZURE_STORAGE_SAS_TOKEN: sas } = o.env;
  if (conn) {
    let c;
    try { c = parseConnectionString(conn, o.account); } catch (err) { throw fail("AZURE_STORAGE_CONNECTION_STRING", err); }
    if (c.key) return sharedKey(c.endpoint, o.account, c.key, "AZURE_STORAGE_CONNECTION_STRING (AccountKey)");
    return sasToken(c.endpoint, c.sas!, "AZURE_STORAGE_CONNECTION_STRING (SharedAccessSignature)");
  }
  if (key) {
    if (account && account !== o.account) throw fail("AZURE_STORAGE_ACCOUNT", new Error(`${JSON.stringify(account.slice(0, 64))} is not the account in the bucket URL (${JSON.stringify(o.account)})`));
    try { checkKey(key); } catch (err) { throw fail("AZURE_STORAGE_KEY", err); }
    return sharedKey(defaultEndpoint, o.account, key, "AZURE_STORAGE_KEY");
  }
  if (sas) {
    let s: string;
    try { s = checkSas(sas); } catch (err) { throw fail("AZURE_STORAGE_SAS_TOKEN", err); }
    return sasToken(defaultEndpoint, s, "AZURE_STORAGE_SAS_TOKEN");
  }
  return tokenCredential(defaultEndpoint, tokenSources({ env: o.env, timeoutMs: o.timeoutMs, label }), label);
}

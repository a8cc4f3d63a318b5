/**
 * The Google Cloud Storage backend of the blob port (port.ts), on the JSON
 * API with fetch: media GET for reads, metadata GET for head, media upload
 * (ifGenerationMatch=0 for if-absent: 412 means the key exists) for writes,
 * paged object listing, DELETE. Credentials come from credentials.ts.
 *
 * A 404 does not say whether the key or the bucket is missing (the emulator
 * answers both alike, and GCS's wording is not a contract), so one place,
 * `missing`, decides, with one bucket check remembered once it succeeds.
 * Everything the server says is bounded and checked before it is believed.
 */
import type { BlobSpec } from "../../blob/spec.ts";
import { BlobError, isValidKey, kindOfStatus, type BackendOptions, type BlobInfo, type BlobStore } from "../../blob/port.ts";
import { bodyToFile, boundedBody, drain, request } from "../../blob/http.ts";
import { gcsEndpoint, gcsTokens } from "./credentials.ts";
import { clean, CredentialError } from "./keyfile.ts";

type GcsSpec = Extract<BlobSpec, { backend: "gcs" }>;

const ERROR_BODY_MAX = 8 << 10;
const OBJECT_JSON_MAX = 64 << 10;
const LIST_PAGE_MAX = 16 << 20;
/** Real GCS may answer a few empty pages in a row (deleted objects); a server that never stops is refused. */
const EMPTY_PAGES_MAX = 100;

export function openGcs(spec: GcsSpec, o: BackendOptions): BlobStore {
  const name = `gs://${spec.bucket}`;
  const endpoint = gcsEndpoint(o.env, name);
  const tokens = endpoint.authenticated ? gcsTokens({ name, env: o.env, timeoutMs: o.timeoutMs }) : undefined;
  const bucketUrl = `${endpoint.base}/storage/v1/b/${encodeURIComponent(spec.bucket)}`;
  const objectUrl = (key: string, query = "") => `${bucketUrl}/o/${encodeURIComponent(key)}${query && `?${query}`}`;
  const label = (op: string, key: string) => `[gcs] ${op} ${name}/${key}`;
  /** The token a failed request carried, so that an error body quoting it is redacted. */
  const sentToken = new WeakMap<Response, string | undefined>();
  let bucketSeen = false;
  let bucketCheck: Promise<boolean> | undefined;

  /** Sends one authorised request; a credential failure is rethrown naming the operation and key. */
  const send = async (op: string, key: string, url: string, init: RequestInit = {}): Promise<Response> => {
    if (!isValidKey(key, { prefix: op === "list" })) throw new BlobError("invalid", `[gcs] ${op} ${name}/${key.slice(0, 200)}: not a valid key`);
    const headers = new Headers(init.headers);
    if (tokens) {
      try {
        headers.set("authorization", await tokens.authorization());
      } catch (err) {
        if (!(err instanceof CredentialError)) throw err;
        throw new BlobError(err.kind, `${label(op, key)}: ${err.detail}`, { cause: err, status: err.status, code: err.code });
      }
    }
    const res = await request(url, { ...init, headers, timeoutMs: o.timeoutMs }, label(op, key));
    if (res.status === 401) tokens?.invalidate(); // revoked or expired early: the next request fetches a new one
    if (res.status >= 300) sentToken.set(res, headers.get("authorization")?.slice("Bearer ".length));
    return res;
  };

  /** The BlobError for a failed response, with GCS's reason and message from a bounded read of its body. */
  const failure = async (op: string, key: string, res: Response): Promise<BlobError> => {
    const text = new TextDecoder().decode(await boundedBody(res, ERROR_BODY_MAX, label(op, key)).catch(() => new Uint8Array(0)));
    let e: { error?: { message?: unknown; errors?: { reason?: unknown }[] } } = {};
    try { e = JSON.parse(text) ?? {}; } catch { /* media errors are plain text */ }
    const reason = e.error?.errors?.[0]?.reason;
    const code = typeof reason === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(reason) ? reason : undefined;
    const said = clean(typeof e.error?.message === "string" ? e.error.message : text, [sentToken.get(res)]);
    return new BlobError(kindOfStatus(res.status), `${label(op, key)}: HTTP ${res.status}${code ? ` ${code}` : ""}${said ? `: ${said}` : ""}`, { status: res.status, code });
  };

  /**
   * The one judge of a 404: undefined (a missing key) when the bucket exists,
   * otherwise a "not-found" BlobError naming the bucket. An upload or a
   * listing cannot miss a key, so for them a 404 is always the bucket.
   */
  const missing = async (op: string, key: string, res: Response): Promise<undefined> => {
    const err = await failure(op, key, res);
    if (op !== "write" && op !== "list" && (await bucketExists(op, key))) return undefined;
    throw new BlobError("not-found", `${label(op, key)}: the bucket ${name} does not exist`, { status: 404, code: err.code, cause: err });
  };
  /** True unless the bucket GET is a 404 (a 403 means no permission on the bucket's metadata, not no bucket); remembered once true. */
  const bucketExists = async (op: string, key: string): Promise<boolean> => {
    if (bucketSeen) return true;
    bucketCheck ??= (async () => {
      const res = await send(op, key, `${bucketUrl}?fields=name`);
      if (res.status !== 200 && res.status !== 403 && res.status !== 404) throw await failure(op, key, res);
      await drain(res);
      return res.status !== 404;
    })().finally(() => (bucketCheck = undefined));
    return (bucketSeen = await bucketCheck);
  };

  const json = async (op: string, key: string, res: Response, max: number): Promise<Record<string, unknown>> => {
    const body = await boundedBody(res, max, label(op, key));
    try {
      const v = JSON.parse(new TextDecoder().decode(body));
      if (typeof v === "object" && v !== null && !Array.isArray(v)) return v;
    } catch { /* refused below */ }
    throw new BlobError("invalid", `${label(op, key)}: the answer is not a JSON object`);
  };
  const media = async (op: string, key: string): Promise<Response | undefined> => {
    const res = await send(op, key, objectUrl(key, "alt=media"));
    if (res.status === 200) return res;
    if (res.status === 404) return missing(op, key, res);
    throw await failure(op, key, res);
  };

  return {
    name,
    async read(key, maxBytes) {
      const res = await media("read", key);
      return res && (await boundedBody(res, maxBytes, label("read", key)));
    },
    async readToFile(key, path, maxBytes) {
      const res = await media("read", key);
      return res && (await bodyToFile(res, path, maxBytes, label("read", key)));
    },
    async write(key, body, opts = {}) {
      const size = body instanceof Blob ? body.size : body.byteLength;
      const query = `uploadType=media&name=${encodeURIComponent(key)}${opts.ifAbsent ? "&ifGenerationMatch=0" : ""}`;
      const res = await send("write", key, `${endpoint.base}/upload/storage/v1/b/${encodeURIComponent(spec.bucket)}/o?${query}`, {
        method: "POST",
        body,
        headers: { "content-type": "application/octet-stream", "content-length": String(size) },
      });
      if (res.status === 412 && opts.ifAbsent) {
        await drain(res);
        return "exists";
      }
      if (res.status === 404) await missing("write", key, res); // throws: an upload cannot miss a key
      if (res.status !== 200) throw await failure("write", key, res);
      // The answer is the new object: it must be the key and size just sent.
      const info = objectInfo(await json("write", key, res, OBJECT_JSON_MAX), label("write", key));
      if (info.key !== key || info.size !== size) throw new BlobError("invalid", `${label("write", key)}: the store recorded ${info.size} bytes at ${JSON.stringify(info.key.slice(0, 200))}`);
      return "written";
    },
    async head(key) {
      const res = await send("head", key, objectUrl(key, "fields=name,size,updated"));
      if (res.status === 404) return missing("head", key, res);
      if (res.status !== 200) throw await failure("head", key, res);
      const info = objectInfo(await json("head", key, res, OBJECT_JSON_MAX), label("head", key));
      if (info.key !== key) throw new BlobError("invalid", `${label("head", key)}: the store described ${JSON.stringify(info.key.slice(0, 200))}`);
      return info;
    },
    async *list(prefix) {
      let token: string | undefined;
      let last: string | undefined;
      for (let empty = 0; ; ) {
        const q = new URLSearchParams({ prefix, maxResults: String(o.listPageSize), fields: "items(name,size,updated),nextPageToken" });
        if (token) q.set("pageToken", token);
        const res = await send("list", prefix, `${bucketUrl}/o?${q}`);
        if (res.status === 404) await missing("list", prefix, res);
        if (res.status !== 200) throw await failure("list", prefix, res);
        const page = await json("list", prefix, res, LIST_PAGE_MAX);
        const items = page.items ?? [];
        if (!Array.isArray(items)) throw new BlobError("invalid", `${label("list", prefix)}: "items" is not a list`);
        for (const item of items) {
          const info = objectInfo(item, label("list", prefix));
          // Strictly increasing keys under the prefix: the order the port promises, and proof that paging moves on.
          if (!info.key.startsWith(prefix) || (last !== undefined && info.key <= last)) {
            throw new BlobError("invalid", `${label("list", prefix)}: the store listed ${JSON.stringify(info.key.slice(0, 200))} out of order or outside the prefix`);
          }
          last = info.key;
          yield info;
        }
        const next = page.nextPageToken;
        if (next === undefined || next === null || next === "") return;
        empty = items.length === 0 ? empty + 1 : 0;
        if (typeof next !== "string" || next.length > 4096 || !/^[\x21-\x7e]+$/.test(next) || next === token || empty > EMPTY_PAGES_MAX) {
          throw new BlobError("invalid", `${label("list", prefix)}: the store's page token does not move the listing on`);
        }
        token = next;
      }
    },
    async delete(key) {
      const res = await send("delete", key, objectUrl(key), { method: "DELETE" });
      if (res.status === 404) return void (await missing("delete", key, res)); // already gone is fine; no bucket is not
      if (res.status !== 200 && res.status !== 204) throw await failure("delete", key, res);
      await drain(res);
    },
    close() {
      tokens?.invalidate();
    },
  };
}

/** An object resource ({name, size, updated}) as a BlobInfo, refused unless every field is plausible. */
function objectInfo(v: unknown, where: string): BlobInfo {
  const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const size = typeof o.size === "string" && /^\d{1,16}$/.test(o.size) ? Number(o.size) : o.size;
  const updated = typeof o.updated === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/.test(o.updated) ? Date.parse(o.updated) : NaN;
  if (typeof o.name !== "string" || o.name.length === 0 || o.name.length > 1024 || typeof size !== "number" || !Number.isSafeInteger(size) || size < 0 || !Number.isFinite(updated)) {
    throw new BlobError("invalid", `${where}: the store described an object without a valid name, size and update time`);
  }
  return { key: o.name, size, modifiedMs: updated };
}

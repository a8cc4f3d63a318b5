/**
 * Azure Blob Storage behind the blob port, with the Blob service's REST
 * API directly (Get Blob, Get Blob Properties, Put Blob, List Blobs,
 * Delete Blob): no SDK. Credentials come from credentials.ts; what a status
 * means is decided in one place, `outcome`.
 */
import { BlobError, isValidKey, kindOfStatus, type BackendOptions, type BlobInfo, type BlobStore } from "../../blob/port.ts";
import { bodyToFile, boundedBody, drain, request } from "../../blob/http.ts";
import type { BlobSpec } from "../../blob/spec.ts";
import { openCredential, redact } from "./credentials.ts";
import { parseListPage } from "./list.ts";

/** A fixed service version: real Azure and Azurite 3.37 both serve it. */
export const API_VERSION = "2025-01-05";
const ERROR_BODY_MAX = 8 * 1024;
const LIST_BODY_MAX = 32 << 20;
/** The largest single Put Blob (versions from 2019-12-12). */
const PUT_MAX = 5000 * 1024 * 1024;
/** Empty pages in a row a listing tolerates (Azure may return a few, a hostile server endless ones). */
const EMPTY_PAGES_MAX = 100;

interface Call { op: string; what: string; method: string; url: URL; headers?: Record<string, string>; body?: Uint8Array | Blob }

export function openAzure(spec: Extract<BlobSpec, { backend: "azure" }>, o: BackendOptions): BlobStore {
  const name = `az://${spec.account}/${spec.container}`;
  const cred = openCredential({ account: spec.account, container: spec.container, env: o.env, timeoutMs: o.timeoutMs });
  const base = `${cred.endpoint}/${spec.container}`;

  /** The call's URL, refusing a key whose `.`/`..` segments the URL parser would fold into another blob's path. */
  const blob = (op: string, key: string) => {
    const what = `[azure] ${op} ${name}/${key}`;
    if (!isValidKey(key)) throw new BlobError("invalid", `${what}: not a valid key`);
    return { op, what, url: new URL(`${base}/${key.split("/").map(encodeURIComponent).join("/")}`) };
  };

  const send = async (c: Call): Promise<Response> => {
    const headers: Record<string, string> = { "x-ms-version": API_VERSION, "x-ms-date": new Date().toUTCString(), ...c.headers };
    const size = c.body instanceof Blob ? c.body.size : (c.body?.byteLength ?? 0);
    const url = await cred.authorize({ method: c.method, url: c.url, headers, contentLength: size });
    try {
      return await request(url, { method: c.method, headers, body: c.body, timeoutMs: o.timeoutMs }, c.what);
    } catch (err) {
      // fetch's error carries the URL, and a SAS URL its signature: only a redacted copy goes on.
      const e = err as BlobError;
      const cause = e.cause as { message?: string; code?: string } | undefined;
      throw new BlobError(e.kind ?? "unavailable", redact(e.message), { cause: Object.assign(new Error(redact(String(cause?.message ?? ""))), { code: cause?.code }) });
    }
  };

  /** The service's error code: the x-ms-error-code header (HEAD has no body), else the body's `<Code>`. */
  const codeOf = async (res: Response, what: string): Promise<string> => {
    let code = res.headers.get("x-ms-error-code") ?? "";
    if (!code) code = /<Code>([^<]*)<\/Code>/.exec(new TextDecoder().decode(await boundedBody(res, ERROR_BODY_MAX, what).catch(() => new Uint8Array())))?.[1] ?? "";
    else await drain(res);
    return /^[A-Za-z0-9]{1,64}$/.test(code) ? code : "";
  };

  /**
   * The one place a failed status is judged: undefined for a missing blob
   * (BlobNotFound, or a code-less 404 HEAD in a container that exists);
   * otherwise a BlobError (ContainerNotFound is "not-found", naming the store).
   */
  const outcome = async (c: Call, res: Response, code: string, missOk = true): Promise<undefined> => {
    let missing = res.status === 404 && code === "BlobNotFound";
    if (res.status === 404 && !code && c.method === "HEAD") {
      // A proxy may strip the header: Get Container Properties tells a missing blob from a missing container.
      const probe = await send({ ...c, url: new URL(`${base}?restype=container`) });
      if (probe.status === 200) { await drain(probe); missing = true; }
      else if (probe.status === 404) code = (await codeOf(probe, c.what)) || "ContainerNotFound";
      else await drain(probe);
    }
    if (missing && missOk) return undefined;
    const http = `HTTP ${res.status}${code ? ` ${code}` : ""}`;
    if (res.status === 404 && code === "ContainerNotFound") {
      throw new BlobError("not-found", `${c.what}: the container ${name} does not exist (${http})`, { status: 404, code });
    }
    if (res.status >= 300 && res.status < 400) throw new BlobError("invalid", `${c.what}: ${http}: a redirect, not followed`, { status: res.status, code });
    const kind = kindOfStatus(res.status);
    throw new BlobError(kind, `${c.what}: ${http}${kind === "denied" ? ` (credential: ${cred.source()})` : ""}`, { status: res.status, code: code || undefined });
  };
  const fail = async (c: Call, res: Response, missOk = true) => outcome(c, res, await codeOf(res, c.what), missOk);

  const get = async (op: string, key: string): Promise<[Call, Response | undefined]> => {
    const c: Call = { ...blob(op, key), method: "GET" };
    const res = await send(c);
    return [c, res.status === 200 ? res : await fail(c, res)];
  };

  return {
    name,
    async read(key, maxBytes) {
      const [c, res] = await get("read", key);
      return res && boundedBody(res, maxBytes, c.what);
    },
    async readToFile(key, path, maxBytes) {
      const [c, res] = await get("read", key);
      return res && bodyToFile(res, path, maxBytes, c.what);
    },
    async head(key) {
      const c: Call = { ...blob("head", key), method: "HEAD" };
      const res = await send(c);
      if (res.status !== 200) return fail(c, res);
      await drain(res);
      const size = /^\d{1,16}$/.test(res.headers.get("content-length") ?? "") ? Number(res.headers.get("content-length")) : NaN;
      const modifiedMs = Date.parse(res.headers.get("last-modified") ?? "");
      if (!Number.isSafeInteger(size) || !Number.isFinite(modifiedMs)) throw new BlobError("invalid", `${c.what}: no valid Content-Length or Last-Modified`);
      return { key, size, modifiedMs };
    },
    async write(key, body, opts = {}) {
      const c: Call = { ...blob("write", key), method: "PUT", body };
      const size = body instanceof Blob ? body.size : body.byteLength;
      if (size > PUT_MAX) throw new BlobError("invalid", `${c.what}: ${size} bytes, more than one Put Blob takes`);
      c.headers = { "x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream", ...(opts.ifAbsent ? { "If-None-Match": "*" } : {}) };
      const res = await send(c);
      if (res.status === 201) return drain(res).then(() => "written" as const);
      const code = await codeOf(res, c.what);
      if (opts.ifAbsent && (res.status === 412 || (res.status === 409 && code === "BlobAlreadyExists"))) return "exists";
      return outcome(c, res, code, false) as Promise<never>; // it throws: a miss is no answer to a write
    },
    async *list(prefix): AsyncIterable<BlobInfo> {
      const what = `[azure] list ${name}/${prefix}*`;
      if (!isValidKey(prefix, { prefix: true })) throw new BlobError("invalid", `${what}: not a valid prefix`);
      let marker: string | undefined;
      let last = "";
      let empty = 0;
      do {
        const url = new URL(base);
        url.search = new URLSearchParams({ restype: "container", comp: "list", maxresults: String(Math.max(1, Math.min(5000, o.listPageSize))), ...(prefix ? { prefix } : {}), ...(marker ? { marker } : {}) }).toString();
        const c: Call = { op: "list", what, method: "GET", url };
        const res = await send(c);
        if (res.status !== 200) await fail(c, res, false);
        const xml = new TextDecoder().decode(await boundedBody(res, LIST_BODY_MAX, what));
        let page;
        try { page = parseListPage(xml, prefix, last); } catch (err) { throw new BlobError("invalid", `${what}: ${(err as Error).message}`, { cause: err }); }
        yield* page.items;
        last = page.items.at(-1)?.key ?? last;
        empty = page.items.length ? 0 : empty + 1;
        if (empty > EMPTY_PAGES_MAX || (page.next !== undefined && page.next === marker)) throw new BlobError("invalid", `${what}: the listing does not advance`);
        marker = page.next;
      } while (marker);
    },
    async delete(key) {
      const c: Call = { ...blob("delete", key), method: "DELETE", headers: { "x-ms-delete-snapshots": "include" } };
      const res = await send(c);
      if (res.status === 202 || res.status === 200) return drain(res);
      await fail(c, res);
    },
    close() {},
  };
}

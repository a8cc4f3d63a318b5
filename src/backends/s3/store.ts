/**
 * The S3 backend of the blob port (port.ts): reads, writes, HEAD and DELETE
 * are presigned (sign.ts) and sent with fetch; list goes through Bun's S3
 * client. The S3 specifics stay here: If-None-Match writes (412: the key
 * exists; 501: the store cannot do it, so HEAD then PUT from then on), and
 * what S3's error codes mean (errors.ts).
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { BackendOptions } from "../../blob/port.ts";
import type { BlobSpec } from "../../blob/spec.ts";
import { BlobError, isValidKey, type BlobInfo, type BlobStore } from "../../blob/port.ts";
import { bodyToFile, boundedBody, drain, request } from "../../blob/http.ts";
import { credentialProvider, resolveRegion } from "./credentials.ts";
import { signer } from "./sign.ts";
import { fromSdkError, s3Failure } from "./errors.ts";

type S3Spec = Extract<BlobSpec, { backend: "s3" }>;

/** Bound on an error body read for its code. */
const ERROR_BODY_MAX = 8 << 10;

export async function openS3(spec: S3Spec, o: BackendOptions): Promise<BlobStore> {
  const name = `s3://${spec.bucket}`;
  const region = await resolveRegion({ ...spec, env: o.env });
  let sdk: Promise<S3Client> | undefined;
  const client = () => (sdk ??= import("./sdk.ts").then((m) => m.createS3Client(spec, region)));
  const sign = signer({ ...spec, region, credentials: credentialProvider({ name, env: o.env, client }) });
  let conditionalWrites = true;

  const what = (op: string, key: string) => `${op} ${name}/${key}`;
  /** The response when it is a success; undefined for a missing key; throws a BlobError otherwise. */
  const send = async (method: "GET" | "PUT" | "HEAD" | "DELETE", key: string, init: RequestInit = {}): Promise<Response | undefined> => {
    const label = what(method === "GET" ? "read" : method === "PUT" ? "write" : method.toLowerCase(), key);
    if (!isValidKey(key)) throw new BlobError("invalid", `[s3] ${label.slice(0, 300)}: not a valid key`);
    const res = await request(await sign.url(key, method), { method, ...init, timeoutMs: o.timeoutMs }, label);
    if (res.status >= 200 && res.status < 300) return res;
    const text = method === "HEAD" ? "" : new TextDecoder().decode(await boundedBody(res, ERROR_BODY_MAX, label).catch(() => new Uint8Array(0)));
    const code = /<Code>([^<]{0,100})<\/Code>/.exec(text)?.[1] ?? "";
    const message = /<Message>([^<]{0,300})<\/Message>/.exec(text)?.[1] ?? "";
    if (res.status === 412 || res.status === 501) throw Object.assign(new BlobError("invalid", `[s3] ${label}: HTTP ${res.status}`, { status: res.status, code }), { conditional: res.status });
    const err = s3Failure(label, res.status, code, message);
    if (err) throw err;
    return undefined;
  };
  const put = async (key: string, body: Uint8Array | Blob, ifAbsent: boolean) => {
    const res = await send("PUT", key, { body, headers: ifAbsent ? { "If-None-Match": "*" } : {} });
    if (res) await drain(res);
  };

  const store: BlobStore = {
    name,
    async read(key, maxBytes) {
      const res = await send("GET", key);
      return res && (await boundedBody(res, maxBytes, `[s3] ${what("read", key)}`));
    },
    async readToFile(key, path, maxBytes) {
      const res = await send("GET", key);
      return res && (await bodyToFile(res, path, maxBytes, `[s3] ${what("read", key)}`));
    },
    async write(key, body, opts = {}) {
      if (!opts.ifAbsent) return put(key, body, false).then(() => "written" as const);
      if (conditionalWrites) {
        try {
          await put(key, body, true);
          return "written";
        } catch (err) {
          const conditional = (err as { conditional?: number }).conditional;
          if (conditional === 412) return "exists";
          if (conditional !== 501) throw err;
          conditionalWrites = false; // this store cannot: HEAD then PUT from now on
        }
      }
      if (await store.head(key)) return "exists";
      await put(key, body, false);
      return "written";
    },
    async head(key) {
      const res = await send("HEAD", key);
      if (!res) return undefined;
      const size = Number(res.headers.get("content-length"));
      const modifiedMs = Date.parse(res.headers.get("last-modified") ?? "");
      if (!Number.isSafeInteger(size) || size < 0) throw new BlobError("invalid", `[s3] ${what("head", key)}: no valid Content-Length`);
      return { key, size, modifiedMs: Number.isNaN(modifiedMs) ? 0 : modifiedMs };
    },
    async *list(prefix) {
      if (!isValidKey(prefix, { prefix: true })) throw new BlobError("invalid", `[s3] ${what("list", prefix.slice(0, 200))}: not a valid prefix`);
      let token: string | undefined;
      do {
        let page: Awaited<ReturnType<Bun.S3Client["list"]>>;
        try {
          page = await (await sign.client()).list({ prefix, maxKeys: o.listPageSize, continuationToken: token });
        } catch (err) {
          throw fromSdkError(what("list", prefix), err) ?? new BlobError("not-found", `[s3] ${what("list", prefix)}: no such bucket`, { cause: err });
        }
        for (const c of page.contents ?? []) yield checkedInfo(c, prefix, name);
        token = page.isTruncated ? page.nextContinuationToken : undefined;
        if (page.isTruncated && !token) throw new BlobError("invalid", `[s3] ${what("list", prefix)}: a truncated page without a continuation token`);
      } while (token);
    },
    async delete(key) {
      const res = await send("DELETE", key);
      if (res) await drain(res);
    },
    close() {
      void sdk?.then((c) => c.destroy(), () => {});
    },
  };
  return store;
}

/** A listed key as the port describes it, refused unless it is plausible (under the prefix, a real size). */
function checkedInfo(c: { key: string; size?: number; lastModified?: string | Date }, prefix: string, name: string): BlobInfo {
  const size = c.size ?? -1;
  if (typeof c.key !== "string" || !c.key.startsWith(prefix) || !Number.isSafeInteger(size) || size < 0) {
    throw new BlobError("invalid", `[s3] list ${name}/${prefix}: the store listed ${JSON.stringify(String(c.key).slice(0, 200))} (size ${size})`);
  }
  const modifiedMs = c.lastModified ? new Date(c.lastModified).getTime() : 0;
  return { key: c.key, size, modifiedMs: Number.isNaN(modifiedMs) ? 0 : modifiedMs };
}

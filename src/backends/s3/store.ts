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
  /** One listing of the bucket, to tell a missing key from a missing bucket where S3's answer cannot (a HEAD has no body). */
  let bucketSeen: Promise<void> | undefined;
  const page = async (prefix: string, token: string | undefined, maxKeys: number) => {
    const label = what("list", prefix);
    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new BlobError("unavailable", `[s3] ${label}: no answer in ${o.timeoutMs} ms`)), o.timeoutMs); });
    try {
      return await Promise.race([(await sign.client()).list({ prefix, maxKeys, continuationToken: token }), timeout]);
    } catch (err) {
      if (err instanceof BlobError) throw err;
      throw fromSdkError(label, err) ?? new BlobError("not-found", `[s3] ${label}: no such bucket`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  };
  const checkBucket = () => {
    bucketSeen ??= page("", undefined, 1).then(() => {});
    bucketSeen.catch(() => { bucketSeen = undefined; }); // asked again next time
    return bucketSeen;
  };

  const what = (op: string, key: string) => `${op} ${name}/${key}`;
  /** The response when it is a success; undefined for a missing key; throws a BlobError otherwise. */
  const send = async (method: "GET" | "PUT" | "HEAD" | "DELETE", key: string, init: RequestInit = {}): Promise<Response | undefined> => {
    const label = what(method === "GET" ? "read" : method === "PUT" ? "write" : method.toLowerCase(), key);
    if (!isValidKey(key)) throw new BlobError("invalid", `[s3] ${label.slice(0, 300)}: not a valid key`);
    const res = await request(await sign.url(key, method), { method, ...init, timeoutMs: o.timeoutMs }, label);
    if (res.status >= 200 && res.status < 300) return res;
    const text = method === "HEAD" ? "" : new TextDecoder().decode(await boundedBody(res, ERROR_BODY_MAX, label).catch(() => new Uint8Array(0)));
    // The server's words, checked: a code is a name, a message printable and short (it goes to the log).
    const code = /<Code>([A-Za-z0-9.]{1,64})<\/Code>/.exec(text)?.[1] ?? "";
    const message = (/<Message>([^<]{0,300})<\/Message>/.exec(text)?.[1] ?? "").replace(/[^\x20-\x7e]/g, " ");
    if (res.status === 412 || res.status === 501) throw Object.assign(new BlobError("invalid", `[s3] ${label}: HTTP ${res.status}`, { status: res.status, code }), { conditional: res.status });
    const err = s3Failure(label, res.status, code, message);
    if (err) throw err;
    // A 404 that does not say NoSuchKey (a HEAD, or a page from something that is not S3): a miss only if the bucket is there.
    if (code !== "NoSuchKey") await checkBucket();
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
      let last = "";
      do {
        const p = await page(prefix, token, o.listPageSize);
        for (const c of p.contents ?? []) {
          const info = checkedInfo(c, prefix, name);
          // Strictly increasing: pages move on, and a server cannot make a listing go round for ever.
          if (info.key <= last) throw new BlobError("invalid", `[s3] ${what("list", prefix)}: keys out of order`);
          last = info.key;
          yield info;
        }
        const next = p.isTruncated ? p.nextContinuationToken : undefined;
        if (p.isTruncated && (!next || next === token)) throw new BlobError("invalid", `[s3] ${what("list", prefix)}: a truncated page without a new continuation token`);
        token = next;
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

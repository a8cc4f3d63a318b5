/**
 * Which bucket, on which service: parsed once from --bucket (and the S3
 * flags), passed to the worker as plain data, opened by open.ts.
 *
 *   NAME, s3://NAME            Amazon S3 or an S3-compatible store (--s3-endpoint-url)
 *   gs://NAME                  Google Cloud Storage (JSON API)
 *   az://ACCOUNT/CONTAINER     Azure Blob Storage
 */
export type BlobSpec =
  | { backend: "s3"; bucket: string; region?: string; endpoint?: string; pathStyle: boolean }
  | { backend: "gcs"; bucket: string }
  | { backend: "azure"; account: string; container: string };

/** The S3 flags, which only an S3 bucket takes. */
export interface S3Flags { region?: string; endpoint?: string; pathStyle: boolean }

/** The spec for a --bucket value; throws an Error whose message says what is wrong and what is expected. */
export function parseBucket(value: string, s3: S3Flags): BlobSpec {
  const m = /^([a-z0-9]+):\/\/(.*)$/.exec(value);
  const scheme = m ? m[1] : "s3";
  const rest = m ? m[2]! : value;
  if (scheme !== "s3" && (s3.region || s3.endpoint || s3.pathStyle)) {
    throw new Error(`--region, --s3-endpoint-url and --s3-path-style are for S3 buckets, not ${value}`);
  }
  switch (scheme) {
    case "s3":
      // S3's rules, loosely: S3-compatible stores accept a little more.
      if (!/^[a-z0-9][a-z0-9.\-_]{1,254}$/i.test(rest)) throw new Error(`${JSON.stringify(value)} is not a valid S3 bucket name`);
      return { backend: "s3", bucket: rest, ...s3 };
    case "gs":
      // GCS: 3-63 characters (222 with dots), lower case, digits, - _ and .
      if (!/^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/.test(rest)) throw new Error(`${JSON.stringify(value)} is not a valid Google Cloud Storage bucket (gs://NAME, lower case)`);
      return { backend: "gcs", bucket: rest };
    case "az": {
      const [account, container, ...more] = rest.split("/");
      if (more.length > 0 || !account || !container) throw new Error(`${JSON.stringify(value)}: an Azure container is az://ACCOUNT/CONTAINER`);
      if (!/^[a-z0-9]{3,24}$/.test(account)) throw new Error(`${JSON.stringify(value)}: ${JSON.stringify(account)} is not a valid Azure storage account name (3-24 lower-case letters and digits)`);
      if (!/^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(container)) throw new Error(`${JSON.stringify(value)}: ${JSON.stringify(container)} is not a valid Azure container name (3-63 lower-case letters, digits and single hyphens)`);
      return { backend: "azure", account, container };
    }
    default:
      throw new Error(`${JSON.stringify(value)}: unknown bucket scheme ${scheme}:// (expected NAME, s3://NAME, gs://NAME or az://ACCOUNT/CONTAINER)`);
  }
}

/** The spec as a URL, for messages and the status page. */
export function describeSpec(spec: BlobSpec): string {
  switch (spec.backend) {
    case "s3": return `s3://${spec.bucket}${spec.endpoint ? ` at ${spec.endpoint}` : ""}`;
    case "gcs": return `gs://${spec.bucket}`;
    case "azure": return `az://${spec.account}/${spec.container}`;
  }
}

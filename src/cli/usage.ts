/** Usage text, rendered from the same flag table the parser uses. */
import { CACHE_FLAGS, SERVE_FLAGS } from "../config.ts";

type Spec = (typeof CACHE_FLAGS)[string];

export function flagTable(specs: Record<string, Spec>): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const dash = name.length === 1 ? "-" : "--";
    const alias = s.alias ? `, --${s.alias}` : "";
    const left = `${dash}${name}${alias}${s.hint ? ` ${s.hint}` : ""}`;
    return [left, s.help + (s.env ? ` [$${s.env}]` : "")] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`).join("\n");
}

export const USAGE = `go-cache-plugin: a build cache for the Go toolchain (GOCACHEPROG), on local disk, optionally backed by a bucket (S3, Google Cloud Storage or Azure Blob).

Usage:
  GOCACHEPROG="go-cache-plugin [flags]" go build ./...   direct mode (the go command starts us)
  go-cache-plugin serve --plugin PORT [flags]            server mode: one cache for every go command
  GOCACHEPROG="go-cache-plugin connect PORT" go build    talk to that server
  go-cache-plugin wait [--timeout D]                     last step of a CI job: returns when every upload is in the bucket
  go-cache-plugin gc --older-than D [--max-size B]       delete from the bucket what no build used for D
  go-cache-plugin stats [--json]                         the local cache, the last sessions, pending uploads, the bucket
  go-cache-plugin keygen ID [--dir DIR]                  a new Ed25519 key pair for --signing-key-file
  go-cache-plugin help [topic]                           topics: configure, environment, direct-mode, remote, server-mode, trust, ...
  go-cache-plugin version

Flags (each also read from the environment variable in brackets; a flag wins):
${flagTable(CACHE_FLAGS)}
`;

export function printUsage(): void {
  process.stdout.write(USAGE);
}

export const SERVE_USAGE = `go-cache-plugin serve: one long-lived cache for every go command on this machine.

Usage:
  go-cache-plugin serve --plugin 5930 [--http 127.0.0.1:5970] [cache flags]
  export GOCACHEPROG="go-cache-plugin connect 5930"

Serve flags:
${flagTable(SERVE_FLAGS)}

Cache flags (as in direct mode):
${flagTable(CACHE_FLAGS)}

SIGINT or SIGTERM stops accepting connections, lets open ones finish, waits for
uploads up to --upload-timeout (the rest stays journaled) and exits 0; a second
signal exits at once.
`;

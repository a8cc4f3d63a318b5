/** `help [topic]` and `version`. */
import { commandUsage, type CommandSpec } from "./command.ts";
import pkg from "../../package.json" with { type: "json" };
import { buildInfo } from "../build-info.ts";
import { UsageError } from "../config.ts";
import { USAGE } from "./usage.ts";
import { TRUST_HELP } from "./help-trust.ts";

const TOPICS: Record<string, string> = {
  configure: `Configuring go-cache-plugin

Every setting is a flag or a GOCACHE_* environment variable; a flag wins.
With no --bucket the cache is local only: entries live under --cache-dir
(default: the user cache directory, as the go command finds its own, plus
/go-cache-plugin: $XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on
macOS, %LocalAppData% on Windows).

Trimming: --expiry 72h removes entries unused for 72 hours; --max-size 10GiB
removes least recently used entries until the cache fits. Trimming runs when a
go command exits, at most once per --trim-interval (default 1h), and never
removes an entry used in the last 2 hours (a running build may hold it).
In serve with --modproxy, --expiry also trims the module proxy's files.

The cache directory decides what the go command links, so one that another
user owns or that group or others may write is refused (as ssh refuses such
key files); a new one is created 0700. --cache-dir-shared accepts a shared
one on purpose.

Durability: every file is written under a temporary name and renamed into
place, and a pending upload's journal line is written before its put is
answered, so a killed process (kill -9, a cancelled CI step) loses nothing
acknowledged. A power loss may lose what the OS had not yet written: entries
of the last seconds (a later build rebuilds them) and journal lines (those
outputs are not uploaded). --fsync syncs each file, its directory and each
journal line before answering, which survives power loss and costs time on a
cold build.

Logging: warnings only by default; -v adds lifecycle lines and a metrics
line at exit; --metrics prints just the metrics line; --debug 1 logs every
build cache request.
`,
  environment: `Environment variables (a flag of the same meaning wins)

  GOCACHE_DIR              --cache-dir
  GOCACHE_DIR_SHARED       --cache-dir-shared (true/false)
  GOCACHE_FSYNC            --fsync (true/false)
  GOCACHE_S3_BUCKET        --bucket
  GOCACHE_S3_REGION        --region
  GOCACHE_S3_ENDPOINT_URL  --s3-endpoint-url
  GOCACHE_S3_PATH_STYLE    --s3-path-style (true/false)
  GOCACHE_KEY_PREFIX       --prefix
  GOCACHE_READ_PREFIXES    --read-prefix (comma-separated)
  GOCACHE_SIGNING_KEY_FILE --signing-key-file
  GOCACHE_COMPRESSION      --compression (zstd/none)
  GOCACHE_MIN_SIZE         --min-upload-size
  GOCACHE_CONCURRENCY      -c
  GOCACHE_S3_CONCURRENCY   -u
  GOCACHE_UPLOAD_TIMEOUT   --upload-timeout
  GOCACHE_READ_ONLY        --read-only (true/false)
  GOCACHE_METRICS          --metrics (true/false)
  GOCACHE_EXPIRY           --expiry
  GOCACHE_MAX_SIZE         --max-size
  GOCACHE_TRIM_INTERVAL    --trim-interval
  GOCACHE_VERBOSE          -v (true/false)
  GOCACHE_DEBUG            --debug

GOCACHE_S3_BUCKET takes every kind of --bucket URL (s3://, gs://, az://); the
name is kept for compatibility. Credentials are never taken on the command
line: see 'go-cache-plugin help remote' for where each backend finds them.
`,
  "direct-mode": `Direct mode

The go command starts the plugin itself, once per invocation, and talks to it
over stdin/stdout:

  export GOCACHEPROG="go-cache-plugin --cache-dir /var/cache/go-build-plugin"
  go build ./...

Go 1.24 and later support GOCACHEPROG; Go 1.21-1.23 need GOEXPERIMENT=cacheprog.
Many go commands may share one cache directory at once: every file is written
under a temporary name and renamed into place, so none sees a partial entry.
`,
  remote: `The remote tier (--bucket)

With --bucket the local cache is backed by a bucket, on one of three services:

  --bucket NAME, s3://NAME     Amazon S3, or any S3-compatible store
                               (--s3-endpoint-url, --s3-path-style, --region)
  --bucket gs://NAME           Google Cloud Storage (JSON API)
  --bucket az://ACCOUNT/CONT   Azure Blob Storage (a container)

  export GOCACHEPROG="go-cache-plugin --bucket my-cache --region eu-west-1"
  export GOCACHEPROG="go-cache-plugin --bucket gs://my-cache"
  export GOCACHEPROG="go-cache-plugin --bucket az://myaccount/go-cache"

Everything below (layout, journal, manifests, packs, prefetch, --read-only,
--prefix, the module proxy's files) works the same on every service.

A local miss asks the bucket; what comes back is installed only if its
SHA-256 matches. A put is answered once it is on local disk and recorded in
the upload journal (v1/journal); uploads run in the background and what is
left at exit is uploaded by the next process. Bucket trouble turns gets into
misses, never into failed builds. --read-only never writes to the bucket
(for untrusted pull-request builds).

Bucket layout (shared with tailscale/go-cache-plugin):
  [prefix/]action/<xx>/<action id>   "<output id> <unix nanoseconds>"
  [prefix/]output/<xx>/<output id>   the output bytes
plus our own keys, which that tool ignores: ax/ (record and small output in
one object), zoutput/, manifest/, pack/ and manifest-index/. In signed mode
ax records, manifests and manifest-index pointers carry a signature, and
action/ records (unsigned) are not trusted.

Compression (--compression, GOCACHE_COMPRESSION): zstd, the default, stores
outputs as zstd frames under zoutput/ (inline records and packs compressed
too): about a third of the bytes to store and to download. none writes
outputs raw under output/, exactly as tailscale/go-cache-plugin does, for a
fleet that still runs it. Readers accept both forms whatever their own
setting; sizes and SHA-256s are checked on the inflated bytes, and an object
that inflates past its recorded size is refused.

Fresh runners: each build that ends with the go command's close leaves a
manifest of the entries it used. The next runner of the same build finds it
by its first gets and prefetches every entry in parallel: the small outputs
in one request (the manifest's pack), the large ones 32 at a time.

Trust: the SHA-256 check protects against corruption, not against someone
who can write the bucket: they choose any action's output, which every
runner then links. Give each trust level its own bucket or --prefix, let
pull requests read main with --read-prefix main, and sign what trusted jobs
write with --signing-key-file: see 'go-cache-plugin help trust'. What is read
from the bucket is bounded (records, packs, manifests; a gzip bomb is
refused) and a corrupt copy found there is replaced by the next upload of a
verified local one.

Credentials (never on the command line), found as each vendor's own tools do:
  S3     AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN], else
         the AWS SDK's default chain (AWS_PROFILE, SSO, web identity, ECS and
         EC2 roles).
  GCS    STORAGE_EMULATOR_HOST (an emulator, no credentials), else Application
         Default Credentials: GOOGLE_APPLICATION_CREDENTIALS (a service-account,
         authorized-user or external-account file), gcloud's
         application_default_credentials.json, the metadata server.
         GOCACHE_GCS_ENDPOINT sets another API endpoint (a private one).
  Azure  AZURE_STORAGE_CONNECTION_STRING, else AZURE_STORAGE_KEY (shared key)
         or AZURE_STORAGE_SAS_TOKEN, else the DefaultAzureCredential chain:
         AZURE_TENANT_ID + AZURE_CLIENT_ID + AZURE_CLIENT_SECRET, workload
         identity (AZURE_FEDERATED_TOKEN_FILE), managed identity, the Azure CLI.
A missing or refused credential is one warning naming the service, the bucket
and what to set; the build goes on from the local cache.
`,
  trust: TRUST_HELP,
  "server-mode": `Server mode

One long-lived server per machine shares its cache, its bucket connections and its
upload queue with every go command; the go commands need no bucket credentials:

  go-cache-plugin serve --socket /run/user/1000/gocache.sock --http 127.0.0.1:5970 &
  export GOCACHEPROG="go-cache-plugin connect /run/user/1000/gocache.sock"
  go build ./...

--socket PATH (recommended) listens on a Unix socket created 0600: only this
user can connect. An existing socket that nobody answers on is replaced; a
live server's socket, or a path that is not a socket, is refused. connect
PATH refuses a socket that another user owns.

--plugin PORT listens on 127.0.0.1:PORT. Any local user and any web page can
reach a loopback port, so every connection must first prove it knows the
server's secret: serve writes a fresh one at start to
$XDG_RUNTIME_DIR/go-cache-plugin/PORT.token (else
~/.cache/go-cache-plugin/run/PORT.token, in a 0700 directory; removed at
exit), and "connect PORT" of the same user finds it from the port alone. The
check is mutual (HMAC over fresh nonces, the secret never sent): connect also
refuses a process squatting the port. A server run by another account:
  serve --plugin 5930 --token-file /etc/gocache/token   (created 0640; chgrp it)
  GOCACHEPROG="go-cache-plugin connect 5930 --token-file /etc/gocache/token"
A token file others can read is refused.

Every connection is a stranger until then: one whose first line is not a
protocol request (an HTTP request, say) or that breaks the framing later is
dropped and nothing it sent is stored; a TCP one that does not authenticate
within 10s is closed (at most 64 handshakes wait at once, the oldest
evicted), a Unix socket one that sends nothing within 5 minutes too; at most
--max-connections (default 256) sessions are open; a client that does not
read its answers is no longer read (memory stays bounded). A Unix socket
serves its owner only: for a server shared by several accounts use --plugin
with --token-file.

--http serves /metrics (Prometheus), /healthz and a status page at /. It
answers only requests whose Host is an IP address, localhost (or
*.localhost) or the --http host name, so a web page cannot read it through
DNS rebinding (others get 403), and refuses what a browser marks as sent by
another site (Origin, Sec-Fetch-Site); a server on 0.0.0.0 reached by name
needs --http-allowed-hosts NAME[,.domain,...] (* turns the Host check off).

With --modproxy, upstream answers are checked before they are cached (.mod
module line, .info Version, list, checksum-database lookups); one that fails
is passed through uncached (X-Modproxy-Source: invalid). The module proxy's
files have their own size cap, --modproxy-max-size (default 10GiB; 0: none).

On Linux, connect hands the go command's own pipes to the server when the
server can open them (/proc/PID/fd, so the same user; on a TCP port only for
the process at the other end of that connection; only pipes): requests and
answers then skip the
connect process, which waits for the session to end. connect --no-pipes, or a
server of another user, copies bytes through connect as before.

A connection's close never waits for the bucket: uploads continue in the server.
SIGINT/SIGTERM: stop accepting, let open connections finish for up to
--shutdown-timeout (default 30s; then they are closed), drain uploads up to
--upload-timeout (the rest stays journaled for the next start), exit 0. A
second signal exits at once.
`,
};

/** `help wait|gc|stats` prints that command's --help. */
async function maintenanceCommand(topic: string): Promise<CommandSpec | undefined> {
  switch (topic) {
    case "wait": return (await import("./wait.ts")).WAIT;
    case "gc": return (await import("./gc.ts")).GC;
    case "stats": return (await import("./stats.ts")).STATS;
  }
  return undefined;
}

export async function runHelp(args: string[]): Promise<number> {
  const topic = args[0];
  if (!topic) {
    process.stdout.write(`${USAGE}\nHelp topics: ${Object.keys(TOPICS).join(", ")}, wait, gc, stats\n`);
    return 0;
  }
  const command = await maintenanceCommand(topic);
  if (command) {
    process.stdout.write(commandUsage(command));
    return 0;
  }
  const text = TOPICS[topic];
  if (!text) throw new UsageError(`no help topic ${JSON.stringify(topic)} (topics: ${Object.keys(TOPICS).join(", ")})`);
  process.stdout.write(text);
  return 0;
}

export function runVersion(): number {
  process.stdout.write(`go-cache-plugin ${pkg.version} (commit ${buildInfo.commit}, bun ${Bun.version}, ${buildInfo.target})\n`);
  return 0;
}

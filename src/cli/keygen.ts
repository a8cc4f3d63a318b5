/** `keygen ID`: a new Ed25519 key pair for --signing-key-file. Parses, writes, says where. */
import { closeSync, constants, openSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { UsageError, parseFlags } from "../config.ts";
import { newKeyPair } from "../remote/trust/keys.ts";

const USAGE = `go-cache-plugin keygen: a new Ed25519 key pair for --signing-key-file.

Usage:
  go-cache-plugin keygen ID [--dir DIR]

Writes DIR/ID.key (mode 0600: "ID ed25519:<private key>", for the jobs that
write and sign a namespace) and DIR/ID.pub ("ID ed25519-public:<public key>",
for the jobs that only read it: they trust what the private key signed and
cannot sign like it). DIR defaults to the current directory; existing files
are never replaced. Append a namespace to a line to scope it, e.g.
"main-2026 ed25519-public:... main". See 'go-cache-plugin help trust'.
`;

export function runKeygen(argv: string[]): number {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  const parsed = parseFlags(argv, { dir: { kind: "string", help: "where to write the key files" } });
  if (parsed._.length !== 1) throw new UsageError("keygen needs one key ID (e.g. main-2026)");
  const id = String(parsed._[0]);
  let pair;
  try { pair = newKeyPair(id); } catch (err) { throw new UsageError((err as Error).message); }
  const dir = resolve(typeof parsed.dir === "string" ? parsed.dir : ".");
  const key = join(dir, `${id}.key`), pub = join(dir, `${id}.pub`);
  writeNew(key, `${pair.privateLine}\n`, 0o600);
  writeNew(pub, `${pair.publicLine}\n`, 0o644);
  process.stderr.write(`go-cache-plugin: wrote ${key} (private: signs; give it only to the jobs that write this namespace) and ${pub} (public: verifies only)\n`);
  return 0;
}

/** Creates `path` (never replacing a file, never through a link) with `text`. */
function writeNew(path: string, text: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  } catch (err) {
    throw new Error(`[trust] create ${path}${(err as NodeJS.ErrnoException).code === "EEXIST" ? ": it exists (keygen never replaces a key)" : ""}`, { cause: err });
  }
  try { writeSync(fd, text); } finally { closeSync(fd); }
}

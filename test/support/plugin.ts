/**
 * Drives the compiled binary over its stdin/stdout like the go command does,
 * for protocol tests with hand-written request streams.
 */
import { createHash } from "node:crypto";
import { binary } from "./paths.ts";

export interface Reply {
  ID: number;
  Err?: string;
  Miss?: boolean;
  OutputID?: string;
  Size?: number;
  Time?: string;
  DiskPath?: string;
  KnownCommands?: string[];
}

export const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest();
export const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
/** A deterministic 32-byte action ID from a label. */
export const actionId = (label: string) => b64(sha256(`action:${label}`));

/** One request line plus the blank line the go command writes after it. */
export const line = (req: object) => `${JSON.stringify(req)}\n\n`;

/** A put request and its body line, as the go command frames them. */
export function putFrame(id: number, action: string, body: Uint8Array, field: "OutputID" | "ObjectID" = "OutputID"): string {
  const req = line({ ID: id, Command: "put", ActionID: action, [field]: b64(sha256(body)), BodySize: body.length });
  return body.length > 0 ? `${req}"${b64(body)}"\n` : req;
}

export interface RunResult {
  replies: Reply[];
  stderr: string;
  exitCode: number;
}

/** Runs the binary with `input` as its whole stdin; collects every reply line. */
export async function runPlugin(args: string[], input: string | Uint8Array | Blob, env: Record<string, string> = {}): Promise<RunResult> {
  const proc = Bun.spawn([binary(), ...args], {
    stdin: typeof input === "string" ? new Blob([input]) : input instanceof Uint8Array ? new Blob([input]) : input,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env },
  });
  const [out, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const replies = out.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Reply);
  return { replies, stderr, exitCode };
}

/** Runs one of the binary's commands (wait, gc, stats, ...) with stdin closed: its exit code and output. */
export async function runCommand(args: string[], env: Record<string, string> = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([binary(), ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { exitCode, stdout, stderr };
}

/** The reply for request `id`; fails when there is not exactly one. */
export function reply(result: RunResult, id: number): Reply {
  const found = result.replies.filter((r) => r.ID === id);
  if (found.length !== 1) throw new Error(`expected one reply for ID ${id}, got ${found.length}; stderr:\n${result.stderr}`);
  return found[0]!;
}

/**
 * The last sessions' numbers, for `stats`: one JSON line per session in
 *
 *   v1/sessions.log   {"end":<unix ms>,"ms":<duration>,"gets":..,"hits":..,"misses":..,"puts":..,"bytesOut":..,"built":..,"buildMs":..}
 *
 * `built`/`buildMs`: actions the go command ran after a miss here, and the
 * time from each miss to its put (what a hit of such an action saves, about).
 * Appended with one write (O_APPEND: lines of concurrent go commands do not
 * interleave); past LOG_MAX bytes it is rewritten to its last KEEP lines (a
 * line racing that rewrite may be lost: these are statistics). Lines that
 * are not exactly this form are skipped when read.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Layout } from "./layout.ts";
import { uniqueTag } from "./identity.ts";
import { writeFully } from "./local.ts";

const LOG_MAX = 256 * 1024;
const KEEP = 1000;
const FIELDS = ["end", "ms", "gets", "hits", "misses", "puts", "bytesOut", "built", "buildMs"] as const;

export type SessionSummary = Record<(typeof FIELDS)[number], number>;

/** Never throws: a session's numbers are not worth failing anything for. */
export function appendSessionLog(layout: Layout, s: SessionSummary): void {
  const line = `${JSON.stringify(Object.fromEntries(FIELDS.map((f) => [f, Math.max(0, Math.round(s[f]))])))}\n`;
  try {
    // O_NONBLOCK: a FIFO planted there must not hold the process; anything but a regular file is left alone.
    const fd = openSync(layout.sessionLog, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
    try { if (fstatSync(fd).isFile()) writeFully(fd, Buffer.from(line)); } finally { closeSync(fd); }
    if ((lstatSync(layout.sessionLog).size ?? 0) > LOG_MAX) {
      const tmp = `${layout.sessionLog}.${uniqueTag()}.tmp`;
      writeFileSync(tmp, readSessionText(layout).split("\n").filter(Boolean).slice(-KEEP).join("\n") + "\n", { flag: "wx", mode: 0o600 });
      renameSync(tmp, layout.sessionLog);
    }
  } catch { /* see above */ }
}

/** The logged sessions, oldest first; malformed lines skipped. */
export function readSessionLog(layout: Layout): SessionSummary[] {
  const out: SessionSummary[] = [];
  for (const line of readSessionText(layout).split("\n")) {
    if (!line) continue;
    let v: unknown;
    try { v = JSON.parse(line); } catch { continue; }
    if (typeof v !== "object" || v === null) continue;
    const r = v as Record<string, unknown>;
    if (FIELDS.every((f) => typeof r[f] === "number" && Number.isSafeInteger(r[f]) && (r[f] as number) >= 0)) out.push(Object.fromEntries(FIELDS.map((f) => [f, r[f]])) as SessionSummary);
  }
  return out;
}

function readSessionText(layout: Layout): string {
  try {
    const st = lstatSync(layout.sessionLog, { throwIfNoEntry: false });
    if (!st?.isFile() || st.size > 4 * LOG_MAX) return "";
    return readFileSync(layout.sessionLog, "utf8");
  } catch {
    return "";
  }
}

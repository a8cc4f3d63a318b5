/** Checks a cache directory's invariants after concurrent or interrupted use. */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

export interface StoreCheck { actions: number; objects: number; problems: string[] }

/** Every action record names an object that exists with its size and digest; no temp files remain. */
export function checkStore(cacheDir: string): StoreCheck {
  const root = join(cacheDir, "v1");
  const problems: string[] = [];
  let actions = 0;
  let objects = 0;
  for (const kind of ["a", "o"]) {
    const base = join(root, kind);
    if (!existsSync(base)) continue;
    for (const shard of readdirSync(base)) {
      for (const name of readdirSync(join(base, shard))) {
        const path = join(base, shard, name);
        if (name.endsWith(".tmp")) { problems.push(`temporary file left: ${path}`); continue; }
        if (kind === "o") {
          objects++;
          const digest = createHash("sha256").update(readFileSync(path)).digest("hex");
          if (digest !== name) problems.push(`object ${name} has digest ${digest}`);
          continue;
        }
        actions++;
        const m = /^([0-9a-f]{64}) (\d+) (\d+)\n$/.exec(readFileSync(path, "latin1"));
        if (!m) { problems.push(`bad action record ${path}`); continue; }
        const obj = join(root, "o", m[1]!.slice(0, 2), m[1]!);
        if (!existsSync(obj)) problems.push(`action ${name} names missing object ${m[1]}`);
        else if (statSync(obj).size !== Number(m[2])) problems.push(`action ${name}: object size differs`);
      }
    }
  }
  return { actions, objects, problems };
}

/**
 * Section 2's workload: a throw-away module that imports real third-party
 * modules, downloaded from the module proxy into a private GOMODCACHE before
 * anything is timed (the timed builds then run with GOPROXY=off).
 */
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { run } from "./lib.ts";

export const PROXY = "https://proxy.golang.org";

/** Pinned versions, all served by the proxy when this was written, all fine with Go 1.26. */
const REQUIRES = [
  ["golang.org/x/text", "v0.44.0"],
  ["golang.org/x/sync", "v0.25.0"],
  ["github.com/google/uuid", "v1.6.0"],
  ["github.com/spf13/cobra", "v1.10.2"],
  ["github.com/sirupsen/logrus", "v1.10.2"],
] as const;

const FILES: Record<string, string> = {
  "go.mod": `module example.com/benchdeps\n\ngo 1.24\n\nrequire (\n${REQUIRES.map(([m, v]) => `\t${m} ${v}\n`).join("")})\n`,
  "text/text.go": `package text

import (
	"golang.org/x/text/cases"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/unicode/norm"
)

func Title(s string) string { return cases.Title(language.English).String(norm.NFC.String(s)) }

func Count(n int) string { return message.NewPrinter(language.German).Sprintf("%d items", n) }

func ShiftJIS(s string) ([]byte, error) { return japanese.ShiftJIS.NewEncoder().Bytes([]byte(s)) }
`,
  "work/work.go": `package work

import (
	"context"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/errgroup"
)

func IDs(ctx context.Context, n int) ([]string, error) {
	out := make([]string, n)
	g, _ := errgroup.WithContext(ctx)
	for i := range out {
		g.Go(func() error { out[i] = uuid.NewString(); return nil })
	}
	err := g.Wait()
	logrus.WithField("n", n).Debug("ids")
	return out, err
}
`,
  "cmd/benchdeps/main.go": `package main

import (
	"context"
	"fmt"

	"example.com/benchdeps/text"
	"example.com/benchdeps/work"
	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{Use: "benchdeps", RunE: func(*cobra.Command, []string) error {
		ids, err := work.IDs(context.Background(), 3)
		fmt.Println(text.Title("hello world"), text.Count(len(ids)))
		return err
	}}
	_ = root.Execute()
}
`,
};

/**
 * Writes the module into `dir` and fetches its dependencies with `env`
 * (which must carry the private GOMODCACHE). Returns undefined when ready, or
 * why the section has to be skipped.
 */
export async function prepareDepsModule(go: string, dir: string, env: Record<string, string>): Promise<string | undefined> {
  for (const [rel, text] of Object.entries(FILES)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
    // The go command does not cache packages whose files changed in the last few seconds.
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(p, old, old);
  }
  const netEnv = { ...env, GOPROXY: PROXY };
  for (const args of [["mod", "tidy"], ["mod", "download", "all"]]) {
    const r = await run([go, ...args], { cwd: dir, env: netEnv });
    if (r.code !== 0) return `\`go ${args.join(" ")}\` with GOPROXY=${PROXY} failed: ${r.stderr.trim().split("\n").slice(-3).join(" / ")}`;
  }
  // Back-date go.mod/go.sum again: tidy rewrote them.
  for (const rel of ["go.mod", "go.sum"]) {
    const old = new Date(Date.now() - 3_600_000);
    try { utimesSync(join(dir, rel), old, old); } catch { /* no go.sum */ }
  }
  const check = await run([go, "build", "./..."], { cwd: dir, env: { ...env, GOCACHE: join(dir, "..", "check-gocache") } });
  if (check.code !== 0) return `the generated module does not build offline: ${check.stderr.trim().split("\n").slice(-3).join(" / ")}`;
  return undefined;
}

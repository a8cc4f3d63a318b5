/**
 * CI integration (issue 15, item 4): the GitHub Actions composite action
 * (action.yml), the GitLab CI template (contrib/gitlab-ci.yml), the container
 * image (contrib/Dockerfile) and the systemd unit (contrib/go-cache-plugin.service).
 *
 * The action and the GitLab template are run for real: their bash scripts, in
 * order, with the variables a runner gives them, then real go builds with the
 * environment they exported, twice, the second of which must come from the
 * plugin's cache. What cannot run here: GitHub's and GitLab's own runners
 * (their expression engines are emulated below for the few forms the files
 * use; an expression outside those fails the test) and docker (no daemon
 * here: the Dockerfile is linted and its health check command is run against
 * a real server instead; the image is not built).
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { BINARY, ROOT, binary, cleanupTempDirs, tempDir } from "./support/paths.ts";
import { freePort } from "./support/net.ts";
import { goBinary, isolatedGoEnv, parseMetrics, runGo, sampleModule, writeModule, type GoResult } from "./support/go.ts";
import { parsePrometheus } from "./support/serve.ts";
import { checkStore } from "./support/store.ts";

const ACTION_FILE = join(ROOT, "action.yml");
const GITLAB_FILE = join(ROOT, "contrib", "gitlab-ci.yml");
const DOCKERFILE = join(ROOT, "contrib", "Dockerfile");
const UNIT_FILE = join(ROOT, "contrib", "go-cache-plugin.service");
const TIMEOUT = 240_000;

// ---------------------------------------------------------------------------
// Processes: every server a test starts is found through its pid file and
// killed after each test, passed or failed (and at exit, whatever happens).

const pidFiles = new Set<string>();

function serverAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie or a recycled pid is not our server.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    if (/^\d+ \(.*\) Z /.test(stat)) return false;
    return readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").includes("serve");
  } catch {
    return false;
  }
}

function killServers(): void {
  for (const f of pidFiles) {
    try {
      const pid = Number(readFileSync(f, "utf8").trim());
      if (pid > 0 && serverAlive(pid)) process.kill(pid, "SIGKILL");
    } catch { /* no pid file: nothing started */ }
  }
  pidFiles.clear();
}

process.on("exit", killServers);
afterEach(killServers);
afterAll(() => {
  killServers();
  cleanupTempDirs();
});

async function waitGone(pid: number, ms = 10_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await Bun.sleep(50)) if (!serverAlive(pid)) return true;
  return !serverAlive(pid);
}

// ---------------------------------------------------------------------------
// A small GitHub Actions runner for composite actions made of bash `run` steps.

interface ActionInput { description?: unknown; default?: unknown; required?: unknown }
interface ActionStep { name?: string; id?: string; if?: string; shell?: string; run?: string; uses?: string; with?: Record<string, string>; env?: Record<string, string> }
interface ActionFile {
  name?: string;
  description?: string;
  inputs?: Record<string, ActionInput>;
  outputs?: Record<string, { description?: string; value?: string }>;
  runs?: { using?: string; steps?: ActionStep[]; post?: unknown };
}

const loadAction = (text = readFileSync(ACTION_FILE, "utf8")) => Bun.YAML.parse(text) as ActionFile;

/** What is wrong with an action's structure (empty: nothing). */
function actionProblems(a: ActionFile): string[] {
  const problems: string[] = [];
  if (a.runs?.using !== "composite") problems.push(`runs.using is ${JSON.stringify(a.runs?.using)}, not composite`);
  const steps = a.runs?.steps ?? [];
  if (steps.length === 0) problems.push("runs.steps is empty");
  for (const [name, input] of Object.entries(a.inputs ?? {})) {
    if (typeof input?.description !== "string" || input.description.trim() === "") problems.push(`input ${name} has no description`);
    if (input?.default === undefined) problems.push(`input ${name} has no default`);
    const ref = new RegExp(`\\binputs\\.${name.replace(/[-]/g, "\\-")}(?![\\w-])`);
    const used = steps.some((s) => [s.if ?? "", ...Object.values(s.env ?? {}), ...Object.values(s.with ?? {})].some((v) => ref.test(String(v))));
    if (!used) problems.push(`input ${name} is used by no step`);
  }
  steps.forEach((s, i) => {
    const label = s.name ?? `step ${i + 1}`;
    if (s.run === undefined) {
      problems.push(`${label}: not a run step`);
      return;
    }
    if (s.shell !== "bash") problems.push(`${label}: shell is ${JSON.stringify(s.shell)}, not bash`);
    // Script injection: an expression in a run body is pasted into the script before bash parses it.
    if (/\$\{\{[^}]*\binputs\./.test(s.run)) problems.push(`${label}: \${{ inputs.* }} inside run`);
    else if (s.run.includes("${{")) problems.push(`${label}: an expression inside run`);
  });
  return problems;
}

interface Ctx { inputs: Record<string, string>; runner: { temp: string }; steps: Record<string, { outputs: Record<string, string> }> }

/** The expression forms action.yml uses; anything else fails the test (extend this runner with care). */
function evaluate(expr: string, ctx: Ctx): string | boolean {
  const e = expr.trim();
  if (e.includes("||")) {
    const parts = e.split("||").map((p) => evaluate(p, ctx));
    return parts.find((p) => p !== "" && p !== false) ?? parts[parts.length - 1]!;
  }
  if (e.includes("&&")) return e.split("&&").every((p) => { const v = evaluate(p, ctx); return v !== "" && v !== false; });
  const cmp = /^(\S+)\s*(==|!=)\s*'([^']*)'$/.exec(e);
  if (cmp) {
    // GitHub compares strings ignoring case.
    const same = String(evaluate(cmp[1]!, ctx)).toLowerCase() === cmp[3]!.toLowerCase();
    return cmp[2] === "==" ? same : !same;
  }
  let m = /^inputs\.([\w-]+)$/.exec(e);
  if (m) {
    if (!(m[1]! in ctx.inputs)) throw new Error(`expression names an undeclared input: ${e}`);
    return ctx.inputs[m[1]!]!;
  }
  if (e === "runner.temp") return ctx.runner.temp;
  m = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(e);
  if (m) return ctx.steps[m[1]!]?.outputs[m[2]!] ?? "";
  throw new Error(`expression not supported by the test's runner: ${JSON.stringify(e)}`);
}

const interpolate = (s: string, ctx: Ctx) => s.replace(/\$\{\{(.*?)\}\}/g, (_, e: string) => String(evaluate(e, ctx)));

function condition(expr: string | undefined, ctx: Ctx): boolean {
  if (expr === undefined) return true;
  const inner = /^\s*\$\{\{(.*)\}\}\s*$/.exec(expr)?.[1] ?? expr;
  const v = evaluate(inner, ctx);
  return v !== "" && v !== false;
}

/** $GITHUB_ENV / $GITHUB_OUTPUT: `NAME=value` lines and `NAME<<DELIMITER` ... `DELIMITER` blocks. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "") continue;
    const heredoc = /^([^=<\s]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i]!);
      if (i >= lines.length) throw new Error(`unterminated ${heredoc[1]}<<${heredoc[2]}`);
      out[heredoc[1]!] = value.join("\n");
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`malformed line ${JSON.stringify(line)}`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** A job: its runner's directories and what earlier steps exported. */
interface Job { temp: string; workspace: string; env: Record<string, string>; path: string[] }

function newJob(): Job {
  const temp = tempDir("runner-temp");
  pidFiles.add(join(temp, "go-cache-plugin-action", "serve.pid"));
  return { temp, workspace: ROOT, env: {}, path: [] };
}

/** The environment a runner passes a step: this process's, minus the plugin's own variables. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith("GOCACHE") || k.startsWith("GITHUB_") || k.startsWith("RUNNER_") || k === "GOPROXY" || k.startsWith("CI_")) continue;
    env[k] = v;
  }
  return env;
}

interface StepRun { name: string; ran: boolean; exitCode: number; stdout: string; stderr: string }
interface ActionRun { ok: boolean; steps: StepRun[]; outputs: Record<string, string>; log: string }

async function run(cmd: string[], opts: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { exitCode, stdout, stderr };
}

/** Runs the action's steps as a runner would (`uses: ./` with `with`), updating the job. */
async function runAction(job: Job, withInputs: Record<string, string> = {}, actionText?: string): Promise<ActionRun> {
  const action = loadAction(actionText);
  const ctx: Ctx = { inputs: {}, runner: { temp: job.temp }, steps: {} };
  for (const name of Object.keys(withInputs)) if (!(name in (action.inputs ?? {}))) throw new Error(`unexpected input ${name}`);
  for (const [name, spec] of Object.entries(action.inputs ?? {})) {
    ctx.inputs[name] = name in withInputs ? withInputs[name]! : interpolate(String(spec.default ?? ""), ctx);
  }
  const steps: StepRun[] = [];
  let failed = false;
  let n = 0;
  for (const step of action.runs?.steps ?? []) {
    const name = step.name ?? step.id ?? `step ${steps.length + 1}`;
    if (failed || !condition(step.if, ctx)) {
      steps.push({ name, ran: false, exitCode: 0, stdout: "", stderr: "" });
      continue;
    }
    if (step.run === undefined || step.shell !== "bash") throw new Error(`${name}: the test runs bash run steps only`);
    const files = Object.fromEntries(["env", "path", "output"].map((k) => [k, join(job.temp, `_runner_${k}_${Date.now()}_${n}`)])) as Record<"env" | "path" | "output", string>;
    for (const f of Object.values(files)) writeFileSync(f, "");
    const script = join(job.temp, `_runner_step_${n++}.sh`);
    writeFileSync(script, step.run);
    const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, interpolate(String(v), ctx)]));
    const env = {
      ...baseEnv(), ...job.env,
      PATH: [...job.path, process.env.PATH ?? ""].join(":"),
      CI: "true", GITHUB_ACTIONS: "true", RUNNER_TEMP: job.temp, GITHUB_WORKSPACE: job.workspace,
      GITHUB_ENV: files.env, GITHUB_PATH: files.path, GITHUB_OUTPUT: files.output,
      ...stepEnv,
    };
    // shell: bash is `bash --noprofile --norc -eo pipefail {0}` on GitHub's runners.
    const r = await run(["bash", "--noprofile", "--norc", "-eo", "pipefail", script], { cwd: job.workspace, env });
    steps.push({ name, ran: true, ...r });
    Object.assign(job.env, parseEnvFile(readFileSync(files.env, "utf8")));
    const added = readFileSync(files.path, "utf8").split("\n").filter(Boolean);
    job.path = [...added.reverse(), ...job.path];
    if (step.id) ctx.steps[step.id] = { outputs: parseEnvFile(readFileSync(files.output, "utf8")) };
    if (r.exitCode !== 0) failed = true;
  }
  const outputs = Object.fromEntries(Object.entries(action.outputs ?? {}).map(([k, o]) => [k, interpolate(String(o.value ?? ""), ctx)]));
  const log = steps.filter((s) => s.ran).map((s) => `--- ${s.name} (exit ${s.exitCode})\n${s.stdout}${s.stderr}`).join("\n");
  return { ok: !failed, steps, outputs, log };
}

function expectOk(r: ActionRun | GoResult, what = "step"): void {
  if ("ok" in r ? !r.ok : r.exitCode !== 0) throw new Error(`${what} failed:\n${"log" in r ? r.log : `${r.stdout}\n${r.stderr}`}`);
}

/** The environment later steps of the job see: the exported variables, GITHUB_PATH before PATH. */
function jobGoEnv(job: Job, goEnv = isolatedGoEnv()): Record<string, string> {
  return { ...goEnv, ...job.env, PATH: [...job.path, process.env.PATH ?? ""].join(":") };
}

async function prometheus(url: string): Promise<Record<string, number>> {
  return parsePrometheus(await (await fetch(`${url}/metrics`)).text());
}

describe("action.yml: structure", () => {
  const good = readFileSync(ACTION_FILE, "utf8");
  test.each([
    ["the repository's action.yml", good, []],
    [
      "an action that pastes an input into its script and forgets one",
      `name: x\ndescription: x\ninputs:\n  a:\n    description: A\n    default: ""\n  b:\n    default: "1"\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: echo \${{ inputs.a }}\n`,
      ["input a is used by no step", "input b has no description", "input b is used by no step", "step 1: ${{ inputs.* }} inside run"],
    ],
    ["a node action", `name: x\ndescription: x\nruns:\n  using: node20\n  main: index.js\n`, ['runs.using is "node20", not composite', "runs.steps is empty"]],
  ] as const)("%s", (_, text, expected) => {
    expect(actionProblems(loadAction(text)).sort()).toEqual([...expected].sort());
  });

  test("the inputs are the documented ones, with their defaults; no post: (composite actions have none)", () => {
    const a = loadAction();
    const defaults = Object.fromEntries(Object.entries(a.inputs ?? {}).map(([k, v]) => [k, v.default]));
    expect(defaults).toEqual({
      step: "setup", binary: "", "cache-dir": "${{ runner.temp }}/go-cache-plugin", bucket: "", prefix: "", "read-only": "false", region: "",
      "s3-endpoint-url": "", "s3-path-style": "false", serve: "false", modproxy: "false", port: "5930", "http-port": "5970", "upload-timeout": "",
    });
    expect(a.runs?.post).toBeUndefined();
    expect(Object.keys(a.outputs ?? {}).sort()).toEqual(["binary", "gocacheprog", "http-url"]);
  });

  test.each(loadAction().runs!.steps!.map((s) => [s.name!, s.run!] as const))("run body of %s is valid bash (bash -n)", async (_, body) => {
    const file = join(tempDir("bash-n"), "step.sh");
    writeFileSync(file, body);
    const r = await run(["bash", "-n", file], { cwd: ROOT, env: baseEnv() });
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test.each([
    ["NAME=value lines", "A=1\nB=x=y\n", { A: "1", B: "x=y" }],
    ["NAME<<DELIMITER blocks", "A<<EOF\nline 1\nline 2\nEOF\nB=2\n", { A: "line 1\nline 2", B: "2" }],
    ["an empty block", "A<<gcp_1\ngcp_1\n", { A: "" }],
  ] as const)("the test's GITHUB_ENV reader: %s", (_, text, expected) => {
    expect(parseEnvFile(text)).toEqual(expected);
  });
});

describe("action.yml on this machine", () => {
  test.each([
    ["a boolean that is not true/false", { "read-only": "yes" }, /input read-only must be true or false, got yes/],
    ["modproxy without serve", { modproxy: "true" }, /modproxy: true needs serve: true/],
    ["a port out of range", { serve: "true", port: "99999" }, /must be port numbers, got 99999/],
    ["the same port twice", { serve: "true", port: "6000", "http-port": "6000" }, /port and http-port must differ/],
    ["a binary that is not there", { binary: "/nonexistent/go-cache-plugin" }, /no go-cache-plugin binary at \/nonexistent\/go-cache-plugin/],
    ["an upload timeout the plugin refuses", { "upload-timeout": "soon" }, /--upload-timeout: invalid duration "soon"[\s\S]*refused these settings/],
    ["an unknown step", { step: "later" }, /input step must be setup or post, got later/],
  ] as const)("setup refuses %s with a message and exports nothing", async (_, inputs, message) => {
    const job = newJob();
    const r = await runAction(job, { ...inputs });
    expect(r.ok).toBe(false);
    expect(r.log).toMatch(message);
    expect(r.log).toContain("::error title=go-cache-plugin::");
    expect(job.env.GOCACHEPROG).toBeUndefined();
  });

  test("hostile input values reach the plugin's variables verbatim; nothing in them runs", async () => {
    const job = newJob();
    const mark = join(job.temp, "pwned");
    const seen = join(job.temp, "seen");
    // A stand-in binary that accepts any setting (the real one refuses some of these values) and
    // records what its preflight run was given.
    const fake = join(tempDir("fakebin"), "go-cache-plugin");
    writeFileSync(fake, `#!/bin/bash\nprintf '%s\\0' "$GOCACHE_KEY_PREFIX" "$GOCACHE_S3_REGION" "$GOCACHE_S3_BUCKET" "$*" >>${JSON.stringify(seen)}\n`);
    chmodSync(fake, 0o755);
    const values = {
      prefix: `p"; touch ${mark}; echo "$(touch ${mark})\`touch ${mark}\`\nGOCACHEPROG=evil\n::error::x`,
      region: `r'\nGOPROXY=evil`,
      bucket: "s3://b$(touch " + mark + ")",
    };
    const r = await runAction(job, { binary: fake, ...values });
    expectOk(r, "setup");
    expect(job.env.GOCACHE_KEY_PREFIX).toBe(values.prefix);
    expect(job.env.GOCACHE_S3_REGION).toBe(values.region);
    expect(job.env.GOCACHE_S3_BUCKET).toBe(values.bucket);
    expect(job.env.GOCACHEPROG).toBe(fake);
    expect(job.env.GOPROXY).toBeUndefined();
    // The preflight (no arguments), then `version`: each saw the values exactly.
    expect(readFileSync(seen, "utf8")).toBe([values.prefix, values.region, values.bucket, "", values.prefix, values.region, values.bucket, "version", ""].join("\0"));
    expect(existsSync(mark)).toBe(false);
  });

  const modes = [
    { mode: "direct mode (defaults)", serve: false },
    { mode: "serve mode with the module proxy", serve: true },
  ];
  test.each(modes)("$mode: a go build twice with what the action exported; the second comes from the plugin's cache", async ({ serve }) => {
    binary();
    const job = newJob();
    const port = await freePort();
    const httpPort = await freePort();
    const inputs: Record<string, string> = serve
      ? { serve: "true", modproxy: "true", port: String(port), "http-port": String(httpPort), binary: "dist/go-cache-plugin", "upload-timeout": "30s" }
      : {};
    const setup = await runAction(job, inputs);
    expectOk(setup, "setup");

    // What the job's later steps get.
    const expectedBinary = serve ? BINARY : realpathSync(Bun.which("go-cache-plugin", { PATH: process.env.PATH }) ?? BINARY);
    expect(setup.outputs.binary).toBe(expectedBinary);
    const state = join(job.temp, "go-cache-plugin-action");
    expect(job.env.GO_CACHE_PLUGIN_STATE).toBe(state);
    expect(job.path[0]).toBe(join(state, "bin"));
    expect(realpathSync(Bun.which("go-cache-plugin", { PATH: jobGoEnv(job).PATH })!)).toBe(realpathSync(expectedBinary));
    const cacheDir = join(job.temp, "go-cache-plugin");
    expect(job.env.GOCACHE_DIR).toBe(cacheDir);
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700); // created by the preflight
    expect(job.env.GOCACHEPROG).toBe(setup.outputs.gocacheprog!);
    const httpUrl = `http://127.0.0.1:${httpPort}`;
    let pid = 0;
    if (serve) {
      const token = join(state, "run", `${port}.token`);
      expect(job.env.GOCACHEPROG).toBe(`${BINARY} connect ${port} --token-file ${token}`);
      expect(statSync(token).mode & 0o777).toBe(0o640);
      expect(setup.outputs["http-url"]).toBe(httpUrl);
      expect(job.env.GOPROXY).toBe(`${httpUrl}/mod`);
      expect(job.env.GOCACHE_UPLOAD_TIMEOUT).toBe("30s");
      pid = Number(readFileSync(join(state, "serve.pid"), "utf8"));
      expect(serverAlive(pid)).toBe(true);
      // The module proxy is mounted (answered locally, no network).
      expect((await fetch(`${job.env.GOPROXY}/sumdb/sum.golang.org/supported`)).status).toBe(200);
    } else {
      expect(job.env.GOCACHEPROG).toBe(expectedBinary);
      expect(job.env.GOPROXY).toBeUndefined();
    }

    const mod = sampleModule(serve ? "serve" : "direct");
    // GOCACHE_METRICS: the plugin's summary line on the go command's stderr (direct mode).
    const goEnv = { ...jobGoEnv(job), GOCACHE_METRICS: "true" };
    const first = await runGo(["build", "./..."], { cwd: mod, env: goEnv });
    expectOk(first, "first go build");
    const before = serve ? await prometheus(httpUrl) : {};
    // A fresh GOCACHE: only the plugin can make this build a warm one.
    const second = await runGo(["build", "./..."], { cwd: mod, env: { ...goEnv, GOCACHE: tempDir("gocache") } });
    expectOk(second, "second go build");
    if (serve) {
      const after = await prometheus(httpUrl);
      const delta = (k: string) => after[k]! - before[k]!;
      expect(before.gocache_cache_puts_total).toBeGreaterThan(10); // the first build went through the server
      expect(delta("gocache_cache_gets_total")).toBeGreaterThan(10);
      expect(delta("gocache_cache_hits_total")).toBeGreaterThanOrEqual(delta("gocache_cache_gets_total") - 1); // a main package's marker misses every time
      expect(delta("gocache_cache_bytes_in_total")).toBe(0); // nothing compiled or linked
      expect(second.stderr).not.toContain("metrics:"); // connect, not a direct-mode plugin
    } else {
      const c = parseMetrics(first.stderr);
      const w = parseMetrics(second.stderr);
      expect(c.cache_puts).toBeGreaterThan(10);
      expect(w.cache_hits).toBeGreaterThan(10);
      expect(w.cache_misses).toBeLessThanOrEqual(1);
      expect(w.cache_bytes_in).toBe(0);
    }
    const store = checkStore(cacheDir);
    expect(store.problems).toEqual([]);
    expect(store.objects).toBeGreaterThan(10);

    // The job's last step.
    const post = await runAction(job, { step: "post" });
    expectOk(post, "post");
    expect(post.steps.map((s) => s.ran)).toEqual([false, true]);
    expect(post.log).toContain("waiting for pending uploads (go-cache-plugin wait)");
    expect(post.log).toContain("go-cache-plugin: no uploads pending"); // local only: nothing to upload
    if (serve) {
      expect(await waitGone(pid)).toBe(true);
      expect(post.log).toContain("SIGTERM: no new connections");
      expect(post.log).toMatch(/metrics: cache_gets=\d+ cache_hits=\d+/);
      expect(post.log).toContain("go-cache-plugin: stopped");
      expect(existsSync(join(state, "serve.pid"))).toBe(false);
    }
  }, TIMEOUT);

  test.each([
    { mode: "direct mode", serve: false },
    { mode: "serve mode", serve: true },
  ])("$mode: a binary and a RUNNER_TEMP with spaces are quoted in GOCACHEPROG so that the go command runs them", async ({ serve }) => {
    const job = newJob();
    job.temp = join(job.temp, "runner temp");
    mkdirSync(job.temp);
    pidFiles.add(join(job.temp, "go-cache-plugin-action", "serve.pid"));
    const binDir = join(tempDir("bin"), "it's here");
    mkdirSync(binDir);
    symlinkSync(binary(), join(binDir, "go-cache-plugin"));
    const inputs: Record<string, string> = { binary: join(binDir, "go-cache-plugin") };
    if (serve) Object.assign(inputs, { serve: "true", port: String(await freePort()), "http-port": String(await freePort()) });
    expectOk(await runAction(job, inputs), "setup");
    const quoted = `"${binDir}/go-cache-plugin"`; // it has a single quote: double quotes
    expect(job.env.GOCACHEPROG).toBe(serve ? `${quoted} connect ${inputs.port} --token-file '${job.temp}/go-cache-plugin-action/run/${inputs.port}.token'` : quoted);
    const mod = writeModule({ "lib/lib.go": "package lib\n\nfunc Twice(n int) int { return 2 * n }\n" });
    const goEnv = { ...jobGoEnv(job), GOCACHE_METRICS: "true" };
    expectOk(await runGo(["build", "./..."], { cwd: mod, env: goEnv }), "first go build");
    const second = await runGo(["build", "./..."], { cwd: mod, env: { ...goEnv, GOCACHE: tempDir("gocache") } });
    expectOk(second, "second go build");
    if (!serve) expect(parseMetrics(second.stderr).cache_hits).toBeGreaterThan(0);
    expect(checkStore(join(job.temp, "go-cache-plugin")).objects).toBeGreaterThan(0);
    const post = await runAction(job, { step: "post" });
    expectOk(post, "post");
    if (serve) expect(post.log).toMatch(/metrics: cache_gets=\d+ cache_hits=[1-9]/);
  }, TIMEOUT);

  // The scripts wait for the server to exit; where PID 1 reaps nothing (a container job's
  // `tail -f /dev/null`), an exited server stays a zombie that `kill -0` still finds.
  const aliveFunctions = [
    ["action.yml (setup)", () => loadAction().runs!.steps![0]!.run!, "alive"],
    ["action.yml (post)", () => loadAction().runs!.steps![1]!.run!, "alive"],
    ["gitlab-ci.yml (before_script)", () => loadGitlab()[".go-cache"]!.before_script!.join("\n"), "gcp_alive"],
    ["gitlab-ci.yml (after_script)", () => loadGitlab()[".go-cache"]!.after_script!.join("\n"), "gcp_alive"],
  ] as const;
  test.each(aliveFunctions)("%s tells a running process from a zombie and from a pid that is gone", async (_, body, name) => {
    const fn = new RegExp(`^([ \\t]*)${name}\\(\\) \\{\\n[\\s\\S]*?\\n\\1\\}$`, "m").exec(body())?.[0];
    expect(fn).toBeDefined();
    // `sleep 0` exits at once and its parent, now `sleep 30`, never reaps it.
    const parent = Bun.spawn(["bash", "-c", "sleep 0 & echo $!; exec sleep 30"], { stdout: "pipe", stderr: "ignore", stdin: "ignore" });
    try {
      const reader = parent.stdout.getReader();
      const zombie = Number(new TextDecoder().decode((await reader.read()).value).trim());
      for (let i = 0; i < 100 && !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${zombie}/stat`, "latin1")); i++) await Bun.sleep(20);
      const gone = Bun.spawnSync(["bash", "-c", "true & echo $!; wait"], { stdout: "pipe" }).stdout.toString().trim();
      const script = `${fn}\nfor p in ${parent.pid} ${zombie} ${gone}; do if ${name} "$p"; then echo alive; else echo dead; fi; done\n`;
      const r = await run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], { cwd: ROOT, env: baseEnv() });
      expect(r.stdout).toBe("alive\ndead\ndead\n");
      expect(r.exitCode).toBe(0);
    } finally {
      parent.kill("SIGKILL");
      await parent.exited;
    }
  });

  test("serve mode fails the setup, with the server's log, when its port is taken; nothing keeps running", async () => {
    const job = newJob();
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await runAction(job, { serve: "true", port: String(busy.port), "http-port": String(await freePort()) });
      expect(r.ok).toBe(false);
      expect(r.log).toContain("go-cache-plugin serve did not become healthy");
      expect(r.log).toContain(`cannot listen on 127.0.0.1:${busy.port}`); // the server's log, shown
      expect(job.env.GOCACHEPROG).toBeUndefined();
      expect(existsSync(join(job.temp, "go-cache-plugin-action", "serve.pid"))).toBe(false);
    } finally {
      busy.stop(true);
    }
  }, TIMEOUT);

  test.each([
    ["without a setup step first", undefined, "the setup step did not run in this job; nothing to do"],
    ["with a binary that lists `go-cache-plugin wait`", "lists", "waiting for pending uploads (go-cache-plugin wait)"],
    ["with an older binary, without `wait`", "lacks", "this binary has no 'wait' command"],
  ] as const)("post %s", async (_, help, message) => {
    const job = newJob();
    const calls = join(job.temp, "calls");
    if (help) {
      // The real binary behind a script that records `wait` and shows a help that lists it, or one (an older release's) that does not.
      const fake = join(tempDir("fakebin"), "go-cache-plugin-other");
      const usage = help === "lists" ? `echo "Usage:"; echo "  go-cache-plugin wait [flags]     wait for pending uploads"` : `${JSON.stringify(BINARY)} "$@" | grep -v 'go-cache-plugin wait'`;
      writeFileSync(fake, `#!/bin/bash\ncase "$1" in\n  help|--help) ${usage};;\n  wait) echo "wait GOCACHE_DIR=$GOCACHE_DIR" >>${JSON.stringify(calls)};;\n  *) exec ${JSON.stringify(BINARY)} "$@";;\nesac\n`);
      chmodSync(fake, 0o755);
      expectOk(await runAction(job, { binary: fake }), "setup");
    }
    const post = await runAction(job, { step: "post" });
    expectOk(post, "post");
    expect(post.log).toContain(message);
    if (help === "lists") expect(readFileSync(calls, "utf8")).toBe(`wait GOCACHE_DIR=${join(job.temp, "go-cache-plugin")}\n`);
    else expect(existsSync(calls)).toBe(false);
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------
// contrib/Dockerfile: no docker daemon here, so it is linted and its health
// check command is run against a real server.

interface Instruction { op: string; args: string }

function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    if (pending === "" && /^\s*(#.*)?$/.test(raw)) continue;
    if (/^\s*#/.test(raw)) continue; // a comment inside a continued instruction
    if (raw.endsWith("\\")) {
      pending += raw.slice(0, -1) + " ";
      continue;
    }
    const line = (pending + raw).trim();
    pending = "";
    const m = /^(\w+)\s+([\s\S]*)$/.exec(line);
    if (!m) throw new Error(`bad Dockerfile line ${JSON.stringify(line)}`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim() });
  }
  return out;
}

/** ENV lines as a map (the `K=V K2=V2` form). */
function dockerEnv(ins: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of ins.filter((x) => x.op === "ENV")) for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, "");
  return env;
}

function dockerfileProblems(text: string): string[] {
  const ins = parseDockerfile(text);
  const problems: string[] = [];
  const get = (op: string) => ins.filter((i) => i.op === op);
  const from = get("FROM").at(-1)?.args ?? "";
  // The binary is glibc-linked: no Alpine (musl) or distroless/static.
  if (!/^(debian|ubuntu|gcr\.io\/distroless\/(base|cc))/.test(from) || /alpine|static/.test(from)) problems.push(`base ${from} is not a glibc image`);
  const user = get("USER").at(-1)?.args;
  if (!user) problems.push("no USER: runs as root");
  else if (!/^\d+(:\d+)?$/.test(user)) problems.push(`USER ${user} is not numeric`);
  else if (Number(user.split(":")[0]) === 0) problems.push("USER is root");
  const health = get("HEALTHCHECK").at(-1)?.args ?? "";
  if (!health.includes("/healthz")) problems.push("no HEALTHCHECK on /healthz");
  const env = dockerEnv(ins);
  const volumes = get("VOLUME").flatMap((v) => (v.args.startsWith("[") ? (JSON.parse(v.args) as string[]) : v.args.split(/\s+/)));
  if (!env.GOCACHE_DIR || !volumes.includes(env.GOCACHE_DIR)) problems.push(`no VOLUME for the cache directory ${env.GOCACHE_DIR}`);
  const httpPort = env.GOCACHE_HTTP?.split(":").at(-1);
  const exposed = get("EXPOSE").flatMap((e) => e.args.split(/\s+/));
  if (!httpPort || !exposed.includes(httpPort)) problems.push(`HTTP port ${httpPort} not in EXPOSE`);
  if (env.GOCACHE_HTTP && !env.GOCACHE_HTTP.startsWith("0.0.0.0:")) problems.push("the HTTP listener is not on 0.0.0.0");
  const entry = get("ENTRYPOINT").at(-1)?.args;
  if (entry !== '["go-cache-plugin", "serve"]' && entry !== '["go-cache-plugin","serve"]') problems.push(`ENTRYPOINT is ${entry}`);
  return problems;
}

function healthcheckCommand(text: string): string[] {
  const h = parseDockerfile(text).find((i) => i.op === "HEALTHCHECK")!;
  const m = /\bCMD\s+(\[.*\])\s*$/.exec(h.args);
  if (!m) throw new Error(`HEALTHCHECK is not in exec form: ${h.args}`);
  return JSON.parse(m[1]!) as string[];
}

describe("contrib/Dockerfile", () => {
  const text = readFileSync(DOCKERFILE, "utf8");
  test.each([
    ["as shipped", text, []],
    ["running as root", text.replace(/^USER .*$/m, "USER root"), ["USER root is not numeric"]],
    ["without USER", text.replace(/^USER .*$/m, ""), ["no USER: runs as root"]],
    ["on Alpine", text.replace(/^FROM .*$/m, "FROM alpine:3.20"), ["base alpine:3.20 is not a glibc image"]],
    ["without HEALTHCHECK, VOLUME and EXPOSE", text.replace(/^HEALTHCHECK[\s\S]*?\]\n/m, "").replace(/^VOLUME .*$/m, "").replace(/^EXPOSE .*$/m, ""),
      ["no HEALTHCHECK on /healthz", "no VOLUME for the cache directory /var/cache/go-cache-plugin", "HTTP port 5970 not in EXPOSE"]],
  ] as const)("lint: %s", (_, dockerfile, expected) => {
    expect(dockerfileProblems(dockerfile).sort()).toEqual([...expected].sort());
  });

  test("it copies the binary the build makes, runs serve with the token file on a volume, and the user owns its directories", () => {
    const ins = parseDockerfile(text);
    const arg = ins.find((i) => i.op === "ARG" && i.args.startsWith("BINARY="))!.args.slice("BINARY=".length);
    expect(arg).toBe("dist/go-cache-plugin");
    expect(ins.find((i) => i.op === "COPY")!.args).toBe("${BINARY} /usr/local/bin/go-cache-plugin");
    const env = dockerEnv(ins);
    expect(env).toMatchObject({ GOCACHE_DIR: "/var/cache/go-cache-plugin", GOCACHE_PLUGIN: "5930", GOCACHE_TOKEN_FILE: "/run/go-cache-plugin/token", GOCACHE_HTTP: "0.0.0.0:5970" });
    expect(ins.find((i) => i.op === "VOLUME")!.args).toContain(dirname(env.GOCACHE_TOKEN_FILE!));
    const setup = ins.find((i) => i.op === "RUN")!.args;
    expect(setup).toContain("install -d -o 10001 -g 10001 -m 0700 /var/cache/go-cache-plugin");
    expect(setup).toContain("--uid 10001 --gid 10001");
    expect(ins.find((i) => i.op === "USER")!.args).toBe("10001:10001");
  });

  test.each([
    ["a healthy server", true],
    ["nothing listening", false],
  ] as const)("the HEALTHCHECK command against %s", async (_, serving) => {
    const cmd = healthcheckCommand(text);
    expect(cmd[0]).toBe("bash");
    const httpPort = await freePort();
    const cacheDir = tempDir("docker-cache");
    let server: ReturnType<typeof Bun.spawn> | undefined;
    const pidFile = join(tempDir("docker-pid"), "pid");
    pidFiles.add(pidFile);
    try {
      if (serving) {
        // The image's entrypoint and environment, with this machine's paths and ports.
        const env = { ...baseEnv(), GOCACHE_DIR: cacheDir, GOCACHE_PLUGIN: String(await freePort()), GOCACHE_TOKEN_FILE: join(tempDir("docker-run"), "token"), GOCACHE_HTTP: `127.0.0.1:${httpPort}` };
        server = Bun.spawn([binary(), "serve", "--modproxy"], { env, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
        writeFileSync(pidFile, String(server.pid));
        for (let i = 0; ; i++) {
          try { if ((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).ok) break; } catch { /* not yet */ }
          if (i > 200) throw new Error("serve did not start");
          await Bun.sleep(50);
        }
      }
      const r = await run(cmd, { cwd: ROOT, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", GOCACHE_HTTP: `0.0.0.0:${httpPort}` }, timeoutMs: 10_000 });
      if (serving) expect(r.exitCode).toBe(0);
      else expect(r.exitCode).not.toBe(0);
    } finally {
      if (server) {
        server.kill("SIGTERM");
        expect(await server.exited).toBe(0);
      }
    }
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------
// contrib/go-cache-plugin.service

/** `systemd-analyze verify` works without systemd as PID 1 (it only loads the unit); probe it once. */
function systemdAnalyzeUsable(): boolean {
  if (!Bun.which("systemd-analyze")) return false;
  const dir = tempDir("sd-probe");
  writeFileSync(join(dir, "probe.service"), "[Service]\nExecStart=/bin/true\n");
  return Bun.spawnSync(["systemd-analyze", "verify", join(dir, "probe.service")], { stdout: "pipe", stderr: "pipe" }).exitCode === 0;
}

function unitKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = "";
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith("#") || t.startsWith(";")) continue;
    const s = /^\[(\w+)\]$/.exec(t);
    if (s) { section = s[1]!; continue; }
    const eq = t.indexOf("=");
    const key = `${section}.${t.slice(0, eq)}`;
    keys.set(key, [...(keys.get(key) ?? []), t.slice(eq + 1)]);
  }
  return keys;
}

/** Go-style durations and systemd's "6min" -> seconds (only the forms used here). */
function seconds(d: string): number {
  let total = 0;
  for (const m of d.matchAll(/(\d+)(min|ms|s|m|h)/g)) total += Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, min: 60, h: 3600 } as Record<string, number>)[m[2]!]!;
  return total;
}

/** Keys of systemd.unit, systemd.service and systemd.exec the unit uses: the fallback check when systemd-analyze is unusable. */
const KNOWN_UNIT_KEYS = new Set(("Description Documentation Wants After Type User Group EnvironmentFile CacheDirectory CacheDirectoryMode StateDirectory " +
  "StateDirectoryMode RuntimeDirectory RuntimeDirectoryMode Environment ExecStartPre ExecStart KillSignal TimeoutStopSec Restart RestartSec " +
  "NoNewPrivileges ProtectSystem ProtectHome PrivateTmp PrivateDevices ReadWritePaths ProtectKernelTunables ProtectKernelModules ProtectKernelLogs " +
  "ProtectControlGroups ProtectClock ProtectHostname RestrictAddressFamilies RestrictNamespaces RestrictRealtime RestrictSUIDSGID LockPersonality " +
  "SystemCallArchitectures CapabilityBoundingSet AmbientCapabilities UMask WantedBy").split(" "));

describe("contrib/go-cache-plugin.service", () => {
  const unit = readFileSync(UNIT_FILE, "utf8");
  const installed = "/usr/local/bin/go-cache-plugin";

  // systemd-analyze is usable in this container even though PID 1 is not systemd. Where it is
  // missing or unusable, the required-keys test below still checks the unit, only less strictly
  // (it cannot tell an unknown key from a known one).
  const verifyCases = [
    ["as shipped", unit, ""],
    ["with an unknown key (the check can fail)", unit.replace("[Service]\n", "[Service]\nNoNewPrivilege=yes\n"), "Unknown key 'NoNewPrivilege'"],
  ] as const;
  test.each(verifyCases)("systemd-analyze verify: %s", async (_, text, complaint) => {
    if (!systemdAnalyzeUsable()) {
      // Not skipped: without systemd-analyze every key must at least be one of systemd's that the unit is meant to use.
      const unknown = [...unitKeys(text).keys()].filter((key) => !KNOWN_UNIT_KEYS.has(key.split(".")[1]!));
      if (complaint === "") expect(unknown).toEqual([]);
      else expect(unknown).toEqual(["Service.NoNewPrivilege"]);
      return;
    }
    expect(text).toContain(`ExecStart=${installed} `);
    const dir = tempDir("sd-verify");
    const copy = join(dir, "go-cache-plugin.service");
    writeFileSync(copy, text.replaceAll(installed, binary()));
    const r = await run(["systemd-analyze", "verify", copy], { cwd: dir, env: { ...baseEnv(), SYSTEMD_LOG_COLOR: "0" } });
    expect(r.exitCode).toBe(0);
    const said = (r.stdout + r.stderr).trim();
    if (complaint === "") expect(said).toBe("");
    else expect(said).toContain(complaint);
  }, TIMEOUT);

  test("it has the required keys; its stop timeout outlasts the server's shutdown and upload timeouts", () => {
    const k = unitKeys(unit);
    const one = (key: string) => {
      const v = k.get(key);
      if (!v || v.length !== 1) throw new Error(`${key}: expected once, got ${JSON.stringify(v)}`);
      return v[0]!;
    };
    expect(one("Service.User")).toBe("go-cache-plugin");
    expect(one("Service.CacheDirectory")).toBe("go-cache-plugin");
    expect(one("Service.CacheDirectoryMode")).toBe("0700");
    expect(one("Service.StateDirectory")).toBe("go-cache-plugin");
    expect(one("Service.RuntimeDirectory")).toBe("go-cache-plugin");
    expect(one("Service.ReadWritePaths")).toBe("/var/cache/go-cache-plugin");
    for (const [key, value] of [["NoNewPrivileges", "yes"], ["ProtectSystem", "strict"], ["ProtectHome", "yes"], ["PrivateTmp", "yes"], ["Restart", "on-failure"], ["KillSignal", "SIGTERM"]]) {
      expect(`${key}=${one(`Service.${key}`)}`).toBe(`${key}=${value}`);
    }
    expect(k.has("Service.MemoryDenyWriteExecute")).toBe(false); // the JIT needs writable code
    const exec = one("Service.ExecStart");
    expect(exec.startsWith(`${installed} serve --plugin 5930 `)).toBe(true);
    expect(exec).toContain("--token-file /run/go-cache-plugin/token");
    const flag = (name: string) => new RegExp(`--${name} (\\S+)`).exec(exec)?.[1] ?? "";
    const shutdown = seconds(flag("shutdown-timeout"));
    const upload = seconds(flag("upload-timeout"));
    expect(shutdown).toBe(30);
    expect(upload).toBe(300);
    expect(seconds(one("Service.TimeoutStopSec"))).toBeGreaterThan(shutdown + upload);
    expect(one("Install.WantedBy")).toBe("multi-user.target");
  });

  test("the ExecStartPre token recipe makes a token that serve accepts as is", async () => {
    const pre = unitKeys(unit).get("Service.ExecStartPre")![0]!;
    const m = /^\+\/bin\/sh -ec '(.*)'$/.exec(pre);
    expect(m).not.toBeNull();
    // systemd's unescaping of the forms used ("$$" and "\\"), this machine's paths, and root's group.
    const dir = tempDir("sd-run");
    const script = m![1]!.replaceAll("$$", "$").replaceAll("\\\\", "\\").replaceAll("/run/go-cache-plugin", dir).replaceAll("root:go-cache-plugin", "root:root");
    const r = await run(["/bin/sh", "-ec", script], { cwd: dir, env: baseEnv() });
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const token = join(dir, "token");
    const secret = readFileSync(token, "utf8");
    expect(secret).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(token).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(["token"]);
    // serve reads the existing token and keeps it.
    const port = await freePort();
    const httpPort = await freePort();
    const server = Bun.spawn([binary(), "serve", "--plugin", String(port), "--http", `127.0.0.1:${httpPort}`, "--cache-dir", join(tempDir("sd-cache"), "c"), "--token-file", token], { env: baseEnv(), stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const pidFile = join(tempDir("sd-pid"), "pid");
    writeFileSync(pidFile, String(server.pid));
    pidFiles.add(pidFile);
    try {
      for (let i = 0; ; i++) {
        try { if ((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).ok) break; } catch { /* not yet */ }
        if (i > 200 || server.exitCode !== null) throw new Error(`serve did not start: ${await new Response(server.stderr).text()}`);
        await Bun.sleep(50);
      }
      expect(readFileSync(token, "utf8")).toBe(secret);
    } finally {
      server.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    }
    expect(readFileSync(token, "utf8")).toBe(secret); // --token-file: left in place at exit
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------
// contrib/gitlab-ci.yml

interface GitlabJob { extends?: string | string[]; variables?: Record<string, string>; before_script?: string[]; script?: string[]; after_script?: string[]; image?: string }

const loadGitlab = () => Bun.YAML.parse(readFileSync(GITLAB_FILE, "utf8")) as Record<string, GitlabJob>;

/** GitLab's expansion of $VAR and ${VAR} in variables (the forms used here). */
const expand = (s: string, vars: Record<string, string>) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (all, a?: string, b?: string) => vars[(a ?? b)!] ?? all);

/** Runs a job as GitLab's bash shell does: before_script and script in one shell, after_script in another. */
async function runGitlabJob(job: GitlabJob, projectDir: string, overrides: Record<string, string>, goEnv: Record<string, string>) {
  const ci = { CI: "true", GITLAB_CI: "true", CI_PROJECT_DIR: projectDir, CI_JOB_NAME: "go-build" };
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...job.variables, ...overrides })) vars[k] = expand(String(v), { ...ci, ...vars });
  const env = { ...baseEnv(), ...goEnv, ...ci, ...vars, PATH: `${dirname(goBinary())}:${process.env.PATH ?? ""}` };
  const shell = async (lines: string[]) => {
    const file = join(tempDir("gitlab-script"), "script.sh");
    writeFileSync(file, `set -eo pipefail\n${lines.join("\n")}\n`);
    return run(["bash", "--noprofile", "--norc", file], { cwd: projectDir, env });
  };
  const main = await shell([...(job.before_script ?? []), ...(job.script ?? [])]);
  const after = await shell(job.after_script ?? []);
  return { main, after };
}

describe("contrib/gitlab-ci.yml", () => {
  const doc = loadGitlab();
  const template = doc[".go-cache"]!;
  const example = Object.entries(doc).find(([name, j]) => !name.startsWith(".") && j.extends !== undefined);

  test("a hidden .go-cache template with variables, before_script and after_script that sets GOCACHEPROG; an example job extends it", () => {
    expect(template).toBeDefined();
    expect(Object.keys(template.variables ?? {})).toEqual(expect.arrayContaining(["GO_CACHE_PLUGIN_BIN", "GOCACHE_DIR", "GOCACHE_S3_BUCKET", "GOCACHE_READ_ONLY", "GO_CACHE_PLUGIN_SERVE"]));
    for (const v of Object.values(template.variables ?? {})) expect(typeof v).toBe("string"); // GitLab wants strings
    const before = (template.before_script ?? []).join("\n");
    // Both modes end with GOCACHEPROG exported for the job's script.
    expect(before.match(/^\s*export GOCACHEPROG=/gm)?.length).toBe(2);
    expect((template.after_script ?? []).join("\n")).toContain("go-cache-plugin wait");
    expect(example).toBeDefined();
    expect([example![1].extends].flat()).toContain(".go-cache");
    expect(example![1].script?.length).toBeGreaterThan(0);
  });

  const blocks = [
    ...(template.before_script ?? []).map((s, i) => [`.go-cache before_script[${i}]`, s] as const),
    ...(template.after_script ?? []).map((s, i) => [`.go-cache after_script[${i}]`, s] as const),
    ...(example?.[1].script ?? []).map((s, i) => [`${example![0]} script[${i}]`, s] as const),
  ];
  test.each(blocks)("%s is valid bash (bash -n)", async (_, body) => {
    const file = join(tempDir("gitlab-n"), "block.sh");
    writeFileSync(file, body);
    const r = await run(["bash", "-n", file], { cwd: ROOT, env: baseEnv() });
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test.each([
    { mode: "direct mode", serve: false },
    { mode: "serve mode", serve: true },
  ])("$mode: the example job twice on one project directory; the second build comes from the plugin's cache", async ({ serve }) => {
    const job: GitlabJob = { ...template, ...example![1], before_script: template.before_script, after_script: template.after_script, variables: { ...template.variables, ...example![1].variables } };
    // A module without standard-library imports keeps this fast; the action's tests above build sampleModule.
    const projectDir = writeModule({
      "lib/lib.go": "package lib\n\n// Twice doubles n.\nfunc Twice(n int) int { return 2 * n }\n",
      "lib/more/more.go": "package more\n\nimport \"example.com/m/lib\"\n\nfunc Four(n int) int { return lib.Twice(lib.Twice(n)) }\n",
    });
    pidFiles.add(join(projectDir, ".go-cache-plugin-run", "serve.pid"));
    const overrides: Record<string, string> = { GO_CACHE_PLUGIN_BIN: BINARY, GOCACHE_METRICS: "true" };
    if (serve) Object.assign(overrides, { GO_CACHE_PLUGIN_SERVE: "true", GO_CACHE_PLUGIN_PORT: String(await freePort()), GO_CACHE_PLUGIN_HTTP_PORT: String(await freePort()) });
    const goEnv = isolatedGoEnv();
    const runs = [];
    for (const gocache of [goEnv.GOCACHE!, tempDir("gocache")]) {
      const r = await runGitlabJob(job, projectDir, overrides, { ...goEnv, GOCACHE: gocache });
      if (r.main.exitCode !== 0 || r.after.exitCode !== 0) throw new Error(`job failed:\n${r.main.stdout}${r.main.stderr}\n--- after_script\n${r.after.stdout}${r.after.stderr}`);
      runs.push(r);
    }
    for (const r of runs) {
      expect(r.main.stdout).toContain(serve ? "go-cache-plugin: GOCACHEPROG=" + BINARY + " connect " : `go-cache-plugin: GOCACHEPROG=${BINARY}\n`);
      expect(`${r.after.stdout}${r.after.stderr}`).toContain("go-cache-plugin: no uploads pending"); // after_script ran `wait`
    }
    // Direct mode: the plugin's summary on the go command's stderr; serve: in the server's log, printed by after_script.
    const metrics = runs.map((r) => parseMetrics(serve ? r.after.stdout : r.main.stderr));
    expect(metrics[0]!.cache_puts).toBeGreaterThan(0);
    expect(metrics[0]!.cache_bytes_in).toBeGreaterThan(0);
    expect(metrics[1]!.cache_hits).toBeGreaterThan(0);
    expect(metrics[1]!.cache_misses).toBe(0);
    expect(metrics[1]!.cache_bytes_in).toBe(0);
    if (serve) {
      for (const r of runs) expect(r.after.stdout).toContain("go-cache-plugin: stopped");
      expect(existsSync(join(projectDir, ".go-cache-plugin-run", "serve.pid"))).toBe(false);
    }
    const store = checkStore(join(projectDir, ".go-cache-plugin"));
    expect(store.problems).toEqual([]);
    expect(store.objects).toBeGreaterThan(0);
  }, TIMEOUT);
});

import { readdirSync, statSync, openSync, writeSync, closeSync, renameSync, mkdirSync, unlinkSync } from "node:fs";
const root = "/tmp/exp/s3data/bench/output";
const keys: { key: string; id: string; size: number }[] = [];
for (const d of readdirSync(root)) for (const f of readdirSync(`${root}/${d}`)) { const st = statSync(`${root}/${d}/${f}`); if (st.size > 65536) keys.push({ key: `output/${d}/${f}`, id: f, size: st.size }); }
const client = new Bun.S3Client({ accessKeyId: "testaccesskey", secretAccessKey: "testsecretkey", bucket: "bench", region: "us-east-1", endpoint: "http://127.0.0.1:39000" });
const mode = process.argv[2]!;
const dir = `${process.argv[3]}/dl-${mode}-${Date.now()}`;
mkdirSync(dir, { recursive: true });
let i = 0;
const cpu0 = process.cpuUsage(); const t0 = performance.now();
async function worker() {
  while (i < keys.length) {
    const k = keys[i++]!;
    const res = await fetch(client.presign(k.key));
    const tmp = `${dir}/${k.id}.tmp`;
    if (mode === "bytes") {
      const b = await res.bytes();
      if (new Bun.CryptoHasher("sha256").update(b).digest("hex") !== k.id) throw new Error("bad");
      const fd = openSync(tmp, "wx", 0o755); writeSync(fd, b); closeSync(fd);
    } else if (mode === "bunwrite") {
      await Bun.write(tmp, res);
      if (new Bun.CryptoHasher("sha256").update(await Bun.file(tmp).bytes()).digest("hex") !== k.id) throw new Error("bad");
    } else if (mode === "bunwrite-mmap") {
      await Bun.write(tmp, res);
      if (new Bun.CryptoHasher("sha256").update(Bun.mmap(tmp)).digest("hex") !== k.id) throw new Error("bad");
    }
    renameSync(tmp, `${dir}/${k.id}`);
  }
}
await Promise.all(Array.from({ length: 32 }, worker));
const cpu = process.cpuUsage(cpu0);
console.log(mode.padEnd(14), "wall", (performance.now() - t0).toFixed(0), "cpu", ((cpu.user + cpu.system) / 1000).toFixed(0), "user", (cpu.user / 1000).toFixed(0), "sys", (cpu.system / 1000).toFixed(0));

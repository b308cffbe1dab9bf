// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package/file, and
// total (inclusive) time of functions matching an optional pattern.
//   npx tsx bench/tools/cpuprofile-summary.ts <file.cpuprofile> [top=25] [inclusive-regex]
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, topArg, pattern] = process.argv.slice(2);
if (!file) throw new Error("usage: cpuprofile-summary.ts <file.cpuprofile> [top] [inclusive-regex]");
const top = Number(topArg ?? 25);
const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
p.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = (url: string) => {
  if (!url) return "(native/V8)";
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1] as string;
  if (url.startsWith("node:")) return url;
  return url.replace(/^file:\/\/\/work\/main\//, "");
};
const sum = (key: (n: Node) => string) => {
  const m = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byId.get(id) as Node;
    m.set(key(n), (m.get(key(n)) ?? 0) + t);
  }
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
};
const pct = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)} %`;
console.log(`profile ${file}: ${(total / 1e6).toFixed(2)} s sampled (wall ${((p.endTime - p.startTime) / 1e6).toFixed(2)} s)`);
const idle = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === "(idle)").reduce((a, [, t]) => a + t, 0);
console.log(`idle ${pct(idle)}`);
console.log("\nself time by package / file:");
for (const [k, t] of sum((n) => where(n.callFrame.url))) console.log(`${pct(t)}  ${k}`);
console.log("\nself time by function:");
for (const [k, t] of sum((n) => `${n.callFrame.functionName || "(anonymous)"} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`))
  console.log(`${pct(t)}  ${k}`);
if (pattern) {
  const re = new RegExp(pattern);
  const incl = new Map<string, number>();
  for (const [id, t] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur) as Node;
      const name = `${n.callFrame.functionName || "(anonymous)"} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
      if (re.test(name) && !seen.has(name)) {
        seen.add(name);
        incl.set(name, (incl.get(name) ?? 0) + t);
      }
    }
  }
  console.log(`\ninclusive time of functions matching /${pattern}/:`);
  for (const [k, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(t)}  ${k}`);
}

// The alert rules in infra/prometheus are valid Prometheus rules, each alert is unit-tested by promtool
// (alerts.test.yml), the Grafana dashboard's queries are valid PromQL, and the metrics the runtime exposes
// are valid exposition text with every name the rules and the dashboard use.

import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createMetrics } from "@idp/runtime";
import { describe, expect, it } from "vitest";

const dir = fileURLToPath(new URL("../../infra/prometheus", import.meta.url));
const dashboardFile = fileURLToPath(new URL("../../infra/grafana/projectors.json", import.meta.url));
const dashboardExprs = (): string[] =>
  (JSON.parse(readFileSync(dashboardFile, "utf8")) as { panels: { targets: { expr: string }[] }[] }).panels.flatMap((p) => p.targets.map((t) => t.expr));

const promtool = (args: string[], input?: string) =>
  new Promise<{ code: number; out: string }>((resolve) => {
    const child = execFile("promtool", args, { cwd: dir }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });

describe("Prometheus alert rules", () => {
  it("are valid rules", async () => {
    const r = await promtool(["check", "rules", "alerts.yml"]);
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  it("fire exactly when their unit tests say", async () => {
    const r = await promtool(["test", "rules", "alerts.test.yml"]);
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  it("every alert has a unit test, and every metric a rule uses is one the runtime exposes", async () => {
    const rules = readFileSync(`${dir}/alerts.yml`, "utf8");
    const tests = readFileSync(`${dir}/alerts.test.yml`, "utf8");
    const alerts = [...rules.matchAll(/alert: (\w+)/g)].map((m) => m[1]);
    expect(alerts.length).toBeGreaterThan(0);
    for (const a of alerts) expect(tests, `alert ${a} has no test`).toContain(`alertname: ${a}`);

    const metrics = createMetrics({ projection: "users", countParked: async () => 0 });
    const exposed = await metrics.registry.metrics();
    const used = new Set([...rules.matchAll(/\b(projector_[a-z_]+)/g)].map((m) => m[1]));
    for (const name of used) expect(exposed, `rules use ${name}`).toMatch(new RegExp(`^# TYPE ${name} `, "m"));
  });

  it("the dashboard's queries are valid PromQL over metrics the runtime exposes", async () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThan(5);
    // promtool parses PromQL only inside rule files: each query becomes a recording rule (template variables as regexes).
    const rules = exprs.map((e, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(e.replaceAll("$projection", ".*"))}`);
    const file = join(mkdtempSync(join(tmpdir(), "dashboard-")), "queries.yml");
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join("\n")}\n`);
    const r = await promtool(["check", "rules", file]);
    expect(r.out).toContain(`SUCCESS: ${exprs.length} rules found`);

    const exposed = await createMetrics({ projection: "users" }).registry.metrics();
    for (const name of new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:projector|process)_[a-z_]+?)(?:_bucket)?\{/g)].map((m) => m[1])))) {
      expect(exposed, `dashboard uses ${name}`).toMatch(new RegExp(`^# TYPE ${name} `, "m"));
    }
  });

  it("the runtime's own metrics pass promtool check metrics", async () => {
    const metrics = createMetrics({ projection: "users", countParked: async () => 2 });
    metrics.eventsApplied.inc({ projection: "users" }, 3);
    metrics.partitionLag.set({ projection: "users", topic: "identity.events", partition: "0" }, 7);
    // Only the runtime's own families: prom-client's default nodejs_active_*_total gauges are named by prom-client.
    const own = (await metrics.registry.metrics()).split("\n").filter((l) => /^(# (HELP|TYPE) )?projector_/.test(l));
    expect(own.length).toBeGreaterThan(10);
    const r = await promtool(["check", "metrics"], `${own.join("\n")}\n`);
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
  });
});

// idp-admin: operate the projectors through their admin API (status, pause/resume, replay, rebuild,
// parked events, audit). Readable tables, a progress bar with rate and ETA, and exit codes for scripts.
import { parseArgs } from "node:util";

if (process.argv[2] === "token") process.exit(await (await import("./token.ts")).tokenCommand(process.argv.slice(3)));

const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3, unreachable: 4, unauthorized: 5 } as const;
const PORTS: Record<string, number> = { users: 8081, sessions: 8082, grants: 8083, "auth-methods": 8084, pats: 8085, "lockout-policies": 8086 };

const USAGE = `usage: idp-admin [--service NAME | --url URL] <command>

commands:
  status                                      offsets, lag per partition, parked events, rebuild state
  lag <instance-id>                           lag of one instance (its partition, per topic)
  pause | resume                              stop / resume consuming (queries keep answering)
  replay (--offset N | --timestamp ISO) [--topic T] [--partition P]
  rebuild [--instance ID] [--dry-run] [--no-wait]
  rebuild rollback <old-schema>               make an old schema live again
  rebuild drop-old <old-schema>               drop an old schema kept after a switch
  parked list [--status parked|applied|skipped] [--instance ID]
  parked show <id>
  parked retry --instance ID --aggregate-type TYPE --aggregate-id ID
  parked skip <id>
  audit [--limit N]

--service picks a local service by name (${Object.keys(PORTS).join(", ")}); --url any admin base URL.
The bearer token (scope projections:admin) comes from IDP_ADMIN_TOKEN; none is needed with AUTH_MODE=dev.
exit codes: 0 ok, 1 failed, 2 usage, 3 refused (conflict, e.g. truncated history), 4 unreachable, 5 unauthorized`;

class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

const { values: opts, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        service: { type: "string" },
        url: { type: "string" },
        offset: { type: "string" },
        timestamp: { type: "string" },
        topic: { type: "string" },
        partition: { type: "string" },
        instance: { type: "string" },
        "dry-run": { type: "boolean" },
        "no-wait": { type: "boolean" },
        status: { type: "string" },
        "aggregate-type": { type: "string" },
        "aggregate-id": { type: "string" },
        limit: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(EXIT.usage);
  }
})();

function baseUrl(): string {
  if (opts.url) return opts.url.replace(/\/$/, "");
  const port = PORTS[opts.service ?? "users"];
  if (!port) throw new CliError(`unknown service ${opts.service}`, EXIT.usage);
  return `http://127.0.0.1:${port}`;
}

async function call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const token = process.env.IDP_ADMIN_TOKEN;
  let res: Response;
  try {
    res = await fetch(`${baseUrl()}/admin${path}`, {
      method,
      headers: {
        // No token: a service in AUTH_MODE=dev accepts admin calls from this machine without one.
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new CliError(`cannot reach ${baseUrl()}: ${(err as Error).cause ?? (err as Error).message}`, EXIT.unreachable);
  }
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.ok) return json;
  const message = `${res.status} ${json.code ?? ""}: ${json.message ?? res.statusText}`;
  if (res.status === 401 || res.status === 403) throw new CliError(message, EXIT.unauthorized);
  if (res.status === 409) throw new CliError(message, EXIT.refused);
  if (res.status === 400) throw new CliError(message, EXIT.usage);
  throw new CliError(message, EXIT.failed);
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return "(none)";
  const cell = (v: unknown) => (v === null || v === undefined ? "-" : typeof v === "object" ? JSON.stringify(v) : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => Math.min(60, cell(r[c]).length))));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.slice(0, 60).padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join("\n");
}

function progressLine(p: { applied: number; read?: number; target: number; ratio: number; eventsPerSecond: number; etaSeconds: number | null }) {
  const width = 30;
  const filled = Math.round(Math.min(1, p.ratio) * width);
  const eta = p.etaSeconds === null ? "--" : `${p.etaSeconds}s`;
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(p.ratio * 100).toFixed(1).padStart(5)}%  ${p.applied}/${p.target} events${p.read === undefined ? "" : ` (read ${p.read})`}  ${p.eventsPerSecond}/s  ETA ${eta}`;
}

async function waitRebuild(): Promise<Record<string, unknown>> {
  const tty = process.stdout.isTTY;
  let lastPrint = 0;
  for (;;) {
    const s = await call("GET", "/rebuild");
    const p = s.progress as Parameters<typeof progressLine>[0];
    if (tty) process.stdout.write(`\r${progressLine(p)}`);
    else if (Date.now() - lastPrint > 2000) {
      console.log(progressLine(p));
      lastPrint = Date.now();
    }
    if (s.state === "done" || s.state === "failed") {
      if (tty) process.stdout.write("\n");
      else console.log(progressLine(p));
      return s;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

const need = (v: string | undefined, name: string) => {
  if (!v) throw new CliError(`missing ${name}\n\n${USAGE}`, EXIT.usage);
  return v;
};

async function main(): Promise<number> {
  const [cmd, sub, arg] = positionals;
  if (opts.help || !cmd) {
    console.log(USAGE);
    return opts.help ? EXIT.ok : EXIT.usage;
  }
  switch (cmd) {
    case "status": {
      const s = await call("GET", "/status");
      console.log(`projection ${s.projection}  consuming=${s.consuming}  paused=${s.paused}  parked=${s.parkedEvents}`);
      const partitions = s.partitions as Record<string, unknown>[];
      console.log(table(partitions, ["topic", "partition", "nextOffset", "endOffset", "lag", "appliedEvents", "updatedAt"]));
      for (const p of partitions.filter((x) => x.logMismatch)) {
        console.log(`STOPPED ${p.topic}/${p.partition}: ${p.logMismatch}; rebuild to recover (idp-admin rebuild)`);
      }
      const r = s.rebuild as Record<string, unknown> | null;
      if (r) console.log(`rebuild: ${r.kind} ${r.state} (${r.shadowSchema}) ${progressLine(r.progress as Parameters<typeof progressLine>[0])}`);
      if ((s.shadows as string[]).length) console.log(`interrupted rebuild shadows: ${(s.shadows as string[]).join(", ")} (run rebuild again to resume)`);
      if ((s.oldSchemas as string[]).length) console.log(`old schemas kept for rollback: ${(s.oldSchemas as string[]).join(", ")}`);
      return EXIT.ok;
    }
    case "lag": {
      const s = await call("GET", `/instances/${encodeURIComponent(need(sub, "<instance-id>"))}/lag`);
      console.log(table(s.topics as Record<string, unknown>[], ["topic", "partition", "lag"]));
      return EXIT.ok;
    }
    case "pause":
    case "resume":
      console.log(JSON.stringify(await call("POST", `/${cmd}`)));
      return EXIT.ok;
    case "replay": {
      const body = {
        ...(opts.offset ? { offset: opts.offset } : {}),
        ...(opts.timestamp ? { timestamp: opts.timestamp } : {}),
        ...(opts.topic ? { topic: opts.topic } : {}),
        ...(opts.partition ? { partition: Number(opts.partition) } : {}),
      };
      const r = await call("POST", "/replay", body);
      console.log(table(r.moved as Record<string, unknown>[], ["topic", "partition", "from", "to"]));
      return EXIT.ok;
    }
    case "rebuild": {
      if (sub === "rollback") {
        console.log(JSON.stringify(await call("POST", "/rebuild/rollback", { oldSchema: need(arg, "<old-schema>") })));
        return EXIT.ok;
      }
      if (sub === "drop-old") {
        console.log(JSON.stringify(await call("DELETE", `/rebuild/old/${encodeURIComponent(need(arg, "<old-schema>"))}`)));
        return EXIT.ok;
      }
      if (sub) throw new CliError(`unknown rebuild command ${sub}\n\n${USAGE}`, EXIT.usage);
      const started = await call("POST", "/rebuild", { ...(opts.instance ? { instanceId: opts.instance } : {}), dryRun: opts["dry-run"] === true });
      console.log(
        `rebuild started: ${started.kind}${opts.instance ? ` of ${opts.instance}` : ""} into ${started.shadowSchema}${opts["dry-run"] ? " (dry run)" : ""}`,
      );
      if (opts["no-wait"]) return EXIT.ok;
      const done = await waitRebuild();
      if (done.state === "failed") throw new CliError(`rebuild failed: ${done.error}`, EXIT.failed);
      if (done.diff) console.log(table(done.diff as Record<string, unknown>[], ["table", "added", "changed", "removed"]));
      if (done.oldSchema) console.log(`switched; the previous read model is kept as ${done.oldSchema} (idp-admin rebuild rollback|drop-old ${done.oldSchema})`);
      return EXIT.ok;
    }
    case "parked": {
      if (sub === "list" || sub === undefined) {
        const qs = new URLSearchParams({ ...(opts.status ? { status: opts.status } : {}), ...(opts.instance ? { instanceId: opts.instance } : {}) });
        const r = await call("GET", `/parked?${qs}`);
        console.log(
          table(r.result as Record<string, unknown>[], [
            "id",
            "instance_id",
            "aggregate_type",
            "aggregate_id",
            "aggregate_sequence",
            "event_type",
            "blocked_by",
            "status",
            "error",
          ]),
        );
        return EXIT.ok;
      }
      if (sub === "show") {
        console.log(JSON.stringify(await call("GET", `/parked/${need(arg, "<id>")}`), null, 2));
        return EXIT.ok;
      }
      if (sub === "retry") {
        const r = await call("POST", "/parked/retry", {
          instanceId: need(opts.instance, "--instance"),
          aggregateType: need(opts["aggregate-type"], "--aggregate-type"),
          aggregateId: need(opts["aggregate-id"], "--aggregate-id"),
        });
        console.log(`applied: ${(r.applied as number[]).join(", ") || "none"}; already applied: ${(r.duplicates as number[]).join(", ") || "none"}`);
        if (r.failed) throw new CliError(`still failing: ${JSON.stringify(r.failed)}`, EXIT.failed);
        return EXIT.ok;
      }
      if (sub === "skip") {
        console.log(JSON.stringify(await call("POST", `/parked/${need(arg, "<id>")}/skip`)));
        return EXIT.ok;
      }
      throw new CliError(`unknown parked command ${sub}\n\n${USAGE}`, EXIT.usage);
    }
    case "audit": {
      const r = await call("GET", `/audit?limit=${opts.limit ?? 50}`);
      console.log(table(r.result as Record<string, unknown>[], ["id", "at", "actor", "action", "params", "outcome"]));
      return EXIT.ok;
    }
    default:
      throw new CliError(`unknown command ${cmd}\n\n${USAGE}`, EXIT.usage);
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  if (err instanceof CliError) {
    console.error(`idp-admin: ${err.message}`);
    process.exitCode = err.exitCode;
  } else {
    console.error(`idp-admin: ${(err as Error).stack ?? err}`);
    process.exitCode = EXIT.failed;
  }
}

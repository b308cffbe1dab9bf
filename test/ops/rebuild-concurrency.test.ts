// One rebuild at a time per service, across processes: of two parallel POST /admin/rebuild (to one
// process, or to two processes of the same service) exactly one starts and the other gets 409
// rebuild_running naming the running job; once it has finished the next one may start. Concurrent
// replays and pauses answer normally and leave one consistent outcome.

import { createServer } from "node:net";
import { generateHistory } from "@idp/producer/src/history.ts";
import { afterAll, beforeAll, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { adminCall, waitForRebuild } from "../support/admin.ts";
import { type ServiceProcess, spawnService } from "../support/process.ts";
import { serviceEnv, startTestService, type TestService, waitForPositions } from "../support/service.ts";

let t: TestService;
let other: ServiceProcess | undefined;
let otherUrl: string;
const history = generateHistory({ seed: 71, instances: 2, orgsPerInstance: 1, usersPerOrg: 15, eventsPerUser: 4, prefix: "rc-" });

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

beforeAll(async () => {
  t = await startTestService(usersService);
  await waitForPositions(t.svc.pool, "users", await t.publisher.publish(history));
  // A second process of the same service (same schema and group), API only: it can start rebuilds too.
  const port = await freePort();
  otherUrl = `http://127.0.0.1:${port}`;
  other = spawnService("services/users/src/main.ts", serviceEnv(t.topic, t.schema, { HTTP_PORT: String(port), PROJECTOR_ENABLED: "false" }));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const up = await fetch(`${otherUrl}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error(`second process did not start: ${other.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});
afterAll(async () => {
  await other?.kill("SIGKILL");
  await t?.close();
});

/** Two rebuild requests at once: one 202, one 409 rebuild_running naming the first one's job id. */
async function raceTwo(urlA: string, urlB: string, body: object) {
  const [a, b] = await Promise.all([adminCall(urlA, "POST", "/rebuild", body), adminCall(urlB, "POST", "/rebuild", body)]);
  const started = [a, b].filter((r) => r.status === 202);
  const refused = [a, b].filter((r) => r.status === 409);
  expect(started.length, JSON.stringify([a, b])).toBe(1);
  expect(refused.length).toBe(1);
  expect(refused[0]?.json.code).toBe("rebuild_running");
  expect(refused[0]?.json.details.jobId).toBe(started[0]?.json.id);
  return started[0] === a ? urlA : urlB;
}

it("refuses a second parallel rebuild in the same process with the running job's id", async () => {
  const winner = await raceTwo(t.url, t.url, { instanceId: "rc-inst-1", dryRun: true });
  const done = await waitForRebuild(winner);
  expect(done.state, done.error).toBe("done");
});

it("refuses a rebuild in another process of the service while one runs, and allows one after it", async () => {
  const winner = await raceTwo(t.url, otherUrl, { dryRun: true });
  // While it runs, a third request to either process is refused as well.
  const loser = winner === t.url ? otherUrl : t.url;
  const third = await adminCall(loser, "POST", "/rebuild", { instanceId: "rc-inst-0" });
  const status = await adminCall(winner, "GET", "/rebuild");
  // (The shadow's consumer needs seconds to join its group, so the job is still running here in practice.)
  if (third.status === 409) expect([third.json.code, third.json.details?.jobId]).toEqual(["rebuild_running", status.json.id]);
  else expect([third.status, status.json.state]).toEqual([202, "done"]);
  const done = await waitForRebuild(winner);
  expect(done.state, done.error).toBe("done");
  // The lock went with the job: the other process may rebuild now.
  const next = await adminCall(loser, "POST", "/rebuild", { instanceId: "rc-inst-0", dryRun: true });
  expect(next.status, JSON.stringify(next.json)).toBe(202);
  expect((await waitForRebuild(loser)).state).toBe("done");
});

it("a rollback is refused while a rebuild runs", async () => {
  expect((await adminCall(t.url, "POST", "/rebuild", { dryRun: true })).status).toBe(202);
  const rolled = await adminCall(otherUrl, "POST", "/rebuild/rollback", { oldSchema: `${t.schema}_old_19700101000000` });
  const status = await adminCall(t.url, "GET", "/rebuild");
  // Refused while it runs; once it is done the lock is free and the made-up schema is simply not found.
  if (rolled.status === 409) expect(rolled.json.code).toBe("rebuild_running");
  else expect([rolled.status, status.json.state]).toEqual([404, "done"]);
  expect((await waitForRebuild(t.url)).state).toBe("done");
});

it("concurrent replays and pauses answer normally and end in one consistent state", async () => {
  // Paused, the projector leaves the stored offsets where the replays put them.
  const pauses = await Promise.all([adminCall(t.url, "POST", "/pause"), adminCall(t.url, "POST", "/pause")]);
  expect(pauses.map((r) => r.status)).toEqual([200, 200]);
  const replays = await Promise.all(
    ["1", "3", "5", "7"].flatMap((offset) => [adminCall(t.url, "POST", "/replay", { offset }), adminCall(otherUrl, "POST", "/replay", { offset })]),
  );
  expect(replays.map((r) => r.status)).toEqual(Array(8).fill(200));
  // Each replay moved all partitions or none, one after the other: every partition holds the target of
  // the replay that came last, never a mix of two replays.
  const { rows } = await t.svc.pool.query("SELECT DISTINCT next_offset::text AS n FROM projector_offsets WHERE projection = 'users'");
  expect(rows.length, JSON.stringify(rows)).toBe(1);
  expect(["1", "3", "5", "7"]).toContain(rows[0].n);

  const toggles = await Promise.all([adminCall(t.url, "POST", "/resume"), adminCall(t.url, "POST", "/resume"), adminCall(t.url, "POST", "/pause")]);
  expect(toggles.map((r) => r.status)).toEqual([200, 200, 200]);
  await adminCall(t.url, "POST", "/resume");
  const st = await adminCall(t.url, "GET", "/status");
  expect([st.json.paused, st.json.consuming]).toEqual([false, true]);
  // Consuming again from the replayed position: new events are applied.
  await waitForPositions(t.svc.pool, "users", await t.publisher.publish(history.slice(0, 1)));
});

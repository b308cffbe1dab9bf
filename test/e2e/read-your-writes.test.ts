// Read-your-writes: publish, then immediately query with the SDK's position token → the write is visible;
// a position the projection has not reached → 503 projection_behind after the bounded wait.
import * as ev from "@idp/events";
import { formatPosition, parsePosition } from "@idp/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { usersService } from "../../services/users/src/index.ts";
import { aggregate } from "../support/events.ts";
import { startTestService, type TestService } from "../support/service.ts";

let t: TestService;
const I = "ryw-inst";
beforeAll(async () => {
  t = await startTestService(usersService, { env: { READ_YOUR_WRITES_TIMEOUT_MS: "1500" } });
});
afterAll(async () => t?.close());

const human = (userName: string) => ({ userName, firstName: "R", lastName: "W", email: `${userName}@x.example`, changeRequired: false });

describe("read-your-writes", () => {
  it("a query with the token of a write just published sees that write, every time", async () => {
    for (let i = 0; i < 20; i++) {
      const u = aggregate(I, `ryw-${i}`, "org");
      const token = await t.publisher.publishOne(u(ev.userHumanAdded, human(`ryw${i}`)));
      const res = await t.get(`/v1/users/ryw-${i}`, I, { headers: { "x-min-position": token } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id: `ryw-${i}`, username: `ryw${i}` });
      const reflected = parsePosition(res.headers.get("x-projection-position") ?? "");
      const written = parsePosition(token);
      expect(reflected?.partition).toBe(written?.partition);
      expect(BigInt(reflected?.offset ?? -1)).toBeGreaterThanOrEqual(BigInt(written?.offset ?? 0));
    }
  });

  it("answers 503 projection_behind when the position is not reached within the deadline", async () => {
    const token = await t.publisher.publishOne(aggregate(I, "ryw-future", "org")(ev.userHumanAdded, human("future")));
    const p = parsePosition(token);
    if (!p) throw new Error("bad token");
    const future = formatPosition({ ...p, offset: (BigInt(p.offset) + 1000n).toString() });
    const started = Date.now();
    const res = await t.get("/v1/users", I, { headers: { "x-min-position": future } });
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await res.json()).toMatchObject({ code: "projection_behind", details: { requested: [future] } });
  });

  it("rejects malformed positions and topics this projection does not consume with 400", async () => {
    for (const bad of ["nope", "a:b:c", `${t.topic}:0:-1`, "other.topic:0:1", Array.from({ length: 40 }, () => `${t.topic}:0:1`).join(",")]) {
      const res = await t.get("/v1/users", I, { headers: { "x-min-position": bad } });
      expect(res.status, bad.slice(0, 40)).toBe(400);
    }
  });
});

import { describe, expect, it } from "vitest";
import { cachedVerifier } from "../src/http/auth.ts";

/** A verifier that counts its calls and accepts tokens "ok:<exp seconds>" until the fake clock passes exp. */
function fake(clock: { ms: number }) {
  const calls: string[] = [];
  const verify = async (token: string) => {
    calls.push(token);
    const [kind, exp] = token.split(":");
    if (kind !== "ok" || Number(exp) * 1000 <= clock.ms) throw new Error("invalid or expired");
    return { exp: Number(exp), instance_id: "inst-a" };
  };
  return { calls, verify };
}

describe("cachedVerifier", () => {
  it("verifies a token once while it is valid, and again after it expired (then rejects it)", async () => {
    const clock = { ms: 1_000_000 };
    const { calls, verify } = fake(clock);
    const cached = cachedVerifier(verify, { now: () => clock.ms });
    const token = `ok:${1_000_000 / 1000 + 30}`;
    expect(await cached(token)).toMatchObject({ instance_id: "inst-a" });
    expect(await cached(token)).toMatchObject({ instance_id: "inst-a" });
    expect(calls).toHaveLength(1);
    clock.ms += 30_000;
    await expect(cached(token)).rejects.toThrow("expired");
    expect(calls).toHaveLength(2);
  });

  it("never caches a rejected token, keeps an entry at most ttlMs, and evicts the oldest beyond maxEntries", async () => {
    const clock = { ms: 0 };
    const { calls, verify } = fake(clock);
    const cached = cachedVerifier(verify, { now: () => clock.ms, ttlMs: 1000, maxEntries: 2 });
    await expect(cached("bad:1")).rejects.toThrow();
    await expect(cached("bad:1")).rejects.toThrow();
    expect(calls).toEqual(["bad:1", "bad:1"]);

    await cached("ok:100");
    clock.ms += 1000; // ttl over, token still valid: verified again
    await cached("ok:100");
    expect(calls.filter((t) => t === "ok:100")).toHaveLength(2);

    await cached("ok:101");
    await cached("ok:102"); // third entry: "ok:100" (oldest) goes
    await cached("ok:101");
    await cached("ok:100");
    expect(calls.filter((t) => t === "ok:101")).toHaveLength(1);
    expect(calls.filter((t) => t === "ok:100")).toHaveLength(3);
  });
});

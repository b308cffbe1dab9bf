import { describe, expect, it } from "vitest";
import { cachedVerifier, checkTokenTimes } from "../src/http/auth.ts";

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

  it("never caches claims without exp, whatever the verifier accepted", async () => {
    let calls = 0;
    const cached = cachedVerifier(async () => {
      calls++;
      return { instance_id: "inst-a" };
    });
    await cached("t");
    await cached("t");
    expect(calls).toBe(2);
  });
});

describe("checkTokenTimes", () => {
  const rules = { maxTokenLifetimeS: 3600, clockSkewS: 60 };
  const now = 1_000_000;
  const check = (claims: Record<string, number>) => () => checkTokenTimes(claims, rules, now);
  it("requires exp, bounds the lifetime by exp − iat (or exp − now), refuses iat beyond the skew", () => {
    expect(check({ iat: now })).toThrow(/missing required "exp"/);
    expect(check({ iat: now, exp: now + 3600 })).not.toThrow();
    expect(check({ iat: now, exp: now + 3601 })).toThrow("token lifetime exceeds 3600 s");
    expect(check({ iat: now - 4000, exp: now + 10 })).toThrow("token lifetime exceeds 3600 s");
    expect(check({ exp: now + 3600 + 60 })).not.toThrow();
    expect(check({ exp: now + 3600 + 61 })).toThrow("token lifetime exceeds 3600 s");
    expect(check({ iat: now + 60, exp: now + 600 })).not.toThrow();
    expect(check({ iat: now + 61, exp: now + 600 })).toThrow('"iat" is in the future');
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HistoryRecorder, opId, type History, type Op, type Outcome } from "../../src/check/history.js";
import { generateRegisterHistory, plantStaleRead } from "../../bench/register-history.js";
import { checkLinearizable, type CheckResult } from "../../src/check/linearizability.js";

// ---------------------------------------------------------------- building histories by hand

type OpSpec = Omit<Op, "id">;

const set = (key: string, value: string, invokeMs: number, completeMs: number | null, outcome: Outcome = "ok", clientId = "c1"): OpSpec => ({
  kind: "set",
  key,
  value,
  invokeMs,
  completeMs,
  outcome,
  clientId,
});

const get = (key: string, value: string, invokeMs: number, completeMs: number | null, outcome: Outcome = "ok", clientId = "c2"): OpSpec => ({
  kind: "get",
  key,
  value,
  invokeMs,
  completeMs,
  outcome,
  clientId,
});

function history(...specs: OpSpec[]): Op[] {
  return specs.map((spec, i) => ({ ...spec, id: opId(i) }) as Op);
}

function expectViolation(result: CheckResult, key: string): Extract<CheckResult, { ok: false }> {
  if (result.ok) throw new Error(`expected a violation on key "${key}", but the history was accepted`);
  expect(result.key).toBe(key);
  return result;
}

// ---------------------------------------------------------------- the rules, by example

describe("linearizability checker", () => {
  it("a sequential history is linearizable", () => {
    const h = history(get("x", "", 0, 1), set("x", "a", 2, 3), get("x", "a", 4, 5), set("x", "b", 6, 7), get("x", "b", 8, 9));
    expect(checkLinearizable(h)).toEqual({ ok: true, keys: 1, ops: 5 });
  });

  it("a GET overlapping a SET may see the old value or the new one", () => {
    expect(checkLinearizable(history(set("x", "a", 0, 10), get("x", "", 5, 15))).ok).toBe(true);
    expect(checkLinearizable(history(set("x", "a", 0, 10), get("x", "a", 5, 15))).ok).toBe(true);
  });

  it("overlapping SETs may take effect in either order", () => {
    const overlapping = [set("x", "a", 0, 10, "ok", "c1"), set("x", "b", 5, 15, "ok", "c3")];
    expect(checkLinearizable(history(...overlapping, get("x", "a", 20, 21))).ok).toBe(true);
    expect(checkLinearizable(history(...overlapping, get("x", "b", 20, 21))).ok).toBe(true);
  });

  it("a stale read after a completed write is caught", () => {
    const result = expectViolation(checkLinearizable(history(set("x", "a", 0, 10), get("x", "", 20, 30))), "x");
    expect(result.message).toContain('SET #0 by client "c1" (invoked 0 ms, completed 10 ms) wrote "a"');
    expect(result.message).toContain('GET #1 by client "c2" (invoked 20 ms, completed 30 ms) returned later');
  });

  it("a read of a value no SET wrote is caught", () => {
    const result = expectViolation(checkLinearizable(history(set("x", "a", 0, 10), get("x", "zzz", 20, 30))), "x");
    expect(result.message).toContain('GET #1 by client "c2" (invoked 20 ms, completed 30 ms) returned "zzz", but no SET of this key ever wrote that value');
    expect(result.ops.map((op) => op.id)).toEqual([1]);
  });

  it("a read of a value whose SET began only after the read completed is caught", () => {
    const result = expectViolation(checkLinearizable(history(get("x", "a", 0, 5), set("x", "a", 10, 20))), "x");
    expect(result.message).toContain("before any SET of that value was invoked");
  });

  it("a lost write is caught: a read after a completed SET returns the older value", () => {
    const h = history(set("x", "old", 0, 10), set("x", "new", 20, 30), get("x", "old", 40, 50));
    const result = expectViolation(checkLinearizable(h), "x");
    expect(result.message).toContain('the register held "old"');
    expect(result.message).toContain('GET #2 by client "c2" (invoked 40 ms, completed 50 ms) returned later');
  });

  it("an indeterminate SET may be seen", () => {
    const h = history(set("x", "a", 0, 10), set("x", "b", 20, null, "unknown"), get("x", "b", 30, 40));
    expect(checkLinearizable(h).ok).toBe(true);
  });

  it("an indeterminate SET may be seen long after its client gave up", () => {
    const h = history(set("x", "b", 0, 100, "unknown"), get("x", "", 200, 210), get("x", "b", 5000, 5010));
    expect(checkLinearizable(h).ok).toBe(true);
  });

  it("an indeterminate SET may never be seen", () => {
    const h = history(set("x", "a", 0, 10), set("x", "b", 20, 25, "unknown"), get("x", "a", 30, 40), get("x", "a", 50, 60));
    expect(checkLinearizable(h).ok).toBe(true);
  });

  it("an indeterminate SET seen and then unseen by later sequential reads is caught", () => {
    const h = history(set("x", "a", 0, 10), set("x", "b", 20, null, "unknown"), get("x", "b", 30, 40), get("x", "a", 50, 60));
    expectViolation(checkLinearizable(h), "x");
  });

  it("a GET of a never-set key returns the empty string", () => {
    expect(checkLinearizable(history(get("x", "", 0, 1), get("y", "", 0, 1))).ok).toBe(true);
  });

  it("a failed SET is never visible", () => {
    const h = history(set("x", "a", 0, 10), set("x", "b", 20, 30, "fail"), get("x", "b", 40, 50));
    const result = expectViolation(checkLinearizable(h), "x");
    expect(result.message).toContain("definitely failed");
    expect(checkLinearizable(history(set("x", "a", 0, 10), set("x", "b", 20, 30, "fail"), get("x", "a", 40, 50))).ok).toBe(true);
  });

  it("failed and indeterminate GETs carry no information", () => {
    const h = history(set("x", "a", 0, 10), get("x", "", 20, 30, "fail"), get("x", "zzz", 20, null, "unknown"));
    expect(checkLinearizable(h).ok).toBe(true);
  });

  it("keys are independent registers", () => {
    const ok = history(set("x", "a", 0, 10), set("y", "b", 0, 10), get("x", "a", 20, 30), get("y", "b", 20, 30), get("z", "", 20, 30));
    expect(checkLinearizable(ok)).toEqual({ ok: true, keys: 3, ops: 5 });
    const bad = history(set("x", "a", 0, 10), set("y", "b", 0, 10), get("x", "a", 20, 30), get("y", "a", 20, 30));
    const result = expectViolation(checkLinearizable(bad), "y");
    expect(result.ops.every((op) => op.key === "y")).toBe(true);
  });

  it("real time is strict: an op completing at t and one invoked at t are concurrent", () => {
    expect(checkLinearizable(history(set("x", "a", 0, 10), get("x", "", 10, 20))).ok).toBe(true);
    expectViolation(checkLinearizable(history(set("x", "a", 0, 10), get("x", "", 11, 20))), "x");
  });

  it("the witness of a violation is small and is itself a violation", () => {
    const base = generateRegisterHistory({ seed: "witness", opCount: 2000, keyCount: 3, clientCount: 6 });
    const planted = plantStaleRead(base);
    if (planted === null) throw new Error("the generated history has no GET to plant a stale read in");
    const result = expectViolation(checkLinearizable(planted.history), planted.get.key);
    expect(result.ops.length).toBeLessThanOrEqual(5);
    expect(checkLinearizable(result.ops).ok).toBe(false);
  });

  it("a malformed history is refused with a clear error", () => {
    expect(() => checkLinearizable(history(get("x", "", 0, null, "ok")))).toThrow(/without completeMs/);
    expect(() => checkLinearizable(history(get("x", "", 10, 5)))).toThrow(/before its invocation/);
  });

  it("a search over its step bound throws rather than guess", () => {
    const h = generateRegisterHistory({ seed: "bound", opCount: 200, keyCount: 1 });
    expect(() => checkLinearizable(h, { stepsMaxPerKey: 10 })).toThrow(/verdict is unknown/);
  });

  it("a 2,000-op generated history checks", () => {
    const h = generateRegisterHistory({ seed: "two-thousand", opCount: 2000, keyCount: 20, clientCount: 8 });
    expect(checkLinearizable(h)).toEqual({ ok: true, keys: 20, ops: 2000 });
  });
});

// ---------------------------------------------------------------- the recorder

describe("history recorder", () => {
  it("records invocations and completions, and reports pending ops as unknown", () => {
    const recorder = new HistoryRecorder();
    const s = recorder.invoke({ kind: "set", clientId: "c1", key: "x", value: "a" }, 0);
    const g = recorder.invoke({ kind: "get", clientId: "c2", key: "x" }, 1);
    const lost = recorder.invoke({ kind: "set", clientId: "c3", key: "x", value: "b" }, 2);
    recorder.complete(s, "ok", undefined, 5);
    recorder.complete(g, "ok", "a", 6);
    const h = recorder.history();
    expect(h[lost]).toMatchObject({ kind: "set", outcome: "unknown", completeMs: null, value: "b" });
    expect(h[g]).toMatchObject({ kind: "get", outcome: "ok", value: "a", invokeMs: 1, completeMs: 6 });
    expect(checkLinearizable(h).ok).toBe(true);
  });

  it("an op completes exactly once, with true time and, for an ok GET, a value", () => {
    const recorder = new HistoryRecorder();
    const g = recorder.invoke({ kind: "get", clientId: "c1", key: "x" }, 10);
    expect(() => recorder.complete(g, "ok", undefined, 11)).toThrow(/without a value/);
    expect(() => recorder.complete(g, "ok", "", 9)).toThrow(/before its invocation/);
    recorder.complete(g, "ok", "", 11);
    expect(() => recorder.complete(g, "ok", "", 12)).toThrow(/not pending/);
  });

  it("the number of recorded ops is bounded", () => {
    const recorder = new HistoryRecorder(1);
    recorder.invoke({ kind: "get", clientId: "c1", key: "x" }, 0);
    expect(() => recorder.invoke({ kind: "get", clientId: "c1", key: "x" }, 1)).toThrow(/raise opsMax/);
  });
});

// ---------------------------------------------------------------- properties

/** One op of a run against a true sequential register, before GET results are known. */
const plannedOp = fc.record({
  key: fc.constantFrom("x", "y"),
  isSet: fc.boolean(),
  valuePick: fc.integer({ min: 0, max: 3 }),
  invokeMs: fc.integer({ min: 0, max: 60 }),
  durationMs: fc.integer({ min: 0, max: 20 }),
  effectPermille: fc.integer({ min: 0, max: 1000 }),
  outcome: fc.constantFrom<Outcome>("ok", "ok", "ok", "ok", "fail", "unknown"),
  unknownTakesEffect: fc.boolean(),
  unknownLateMs: fc.integer({ min: 0, max: 80 }),
  unknownNeverCompletes: fc.boolean(),
});
type PlannedOp = typeof plannedOp extends fc.Arbitrary<infer T> ? T : never;

/**
 * Runs the planned ops against a sequential register: each op takes effect at one point in its
 * interval; an unknown SET takes effect (or not) at any time after its invocation; a failed SET
 * never does. The result is linearizable by construction.
 */
function runAgainstRegister(plans: readonly PlannedOp[], uniqueValues: boolean): History {
  const effects: { atMs: number; index: number }[] = [];
  const ops: Op[] = plans.map((p, i) => {
    const kind = p.isSet ? "set" : "get";
    const value = p.isSet ? (uniqueValues ? `v${i}` : ["", "a", "b", "c"][p.valuePick] ?? "") : "";
    const completeMs = p.outcome === "unknown" && p.unknownNeverCompletes ? null : p.invokeMs + p.durationMs;
    const effectMs = effectTimeMs(p);
    if (effectMs !== null) effects.push({ atMs: effectMs, index: i });
    return { id: opId(i), kind, clientId: `c${i % 4}`, key: p.key, value, invokeMs: p.invokeMs, completeMs, outcome: p.outcome };
  });
  const register = new Map<string, string>();
  effects.sort((a, b) => a.atMs - b.atMs || a.index - b.index);
  for (const { index } of effects) {
    const op = ops[index];
    if (op === undefined) continue;
    if (op.kind === "set") register.set(op.key, op.value);
    else ops[index] = { ...op, value: register.get(op.key) ?? "" };
  }
  return ops;
}

function effectTimeMs(p: PlannedOp): number | null {
  if (p.outcome === "ok") return p.invokeMs + (p.durationMs * p.effectPermille) / 1000;
  if (p.outcome === "unknown" && p.isSet && p.unknownTakesEffect) return p.invokeMs + p.unknownLateMs;
  return null;
}

/** A GET that, with unique values, returns a value overwritten before it began (or null). */
function plantImpossibleStaleRead(h: History): History | null {
  const completedSets = h.filter((op) => op.kind === "set" && op.outcome === "ok");
  for (const g of h) {
    if (g.kind !== "get" || g.outcome !== "ok") continue;
    for (const s1 of completedSets) {
      if (s1.key !== g.key || (s1.completeMs ?? Infinity) >= g.invokeMs) continue;
      const s0 = completedSets.find((s) => s.key === g.key && (s.completeMs ?? Infinity) < s1.invokeMs);
      if (s0 !== undefined) return h.map((op) => (op === g ? { ...g, value: s0.value } : op));
    }
  }
  return null;
}

/** Exhaustive reference: tries every order of the ops that respects real time. */
function bruteForceLinearizable(h: History): boolean {
  const keys = new Set(h.map((op) => op.key));
  return [...keys].every((key) => {
    const live = h.filter((op) => op.key === key && (op.kind === "set" ? op.outcome !== "fail" : op.outcome === "ok"));
    return placeAll(live, "");
  });
}

function placeAll(remaining: readonly Op[], value: string): boolean {
  if (remaining.every((op) => op.outcome !== "ok")) return true;
  const returnMs = (op: Op): number => (op.outcome === "ok" ? (op.completeMs ?? Infinity) : Infinity);
  return remaining.some((op) => {
    if (remaining.some((other) => returnMs(other) < op.invokeMs)) return false;
    if (op.kind === "get" && op.value !== value) return false;
    return placeAll(
      remaining.filter((other) => other !== op),
      op.kind === "set" ? op.value : value,
    );
  });
}

const smallArbitraryOp = fc.record({
  key: fc.constantFrom("x", "x", "y"),
  kind: fc.constantFrom<"set" | "get">("set", "get"),
  value: fc.constantFrom("", "a", "b", "c"),
  invokeMs: fc.integer({ min: 0, max: 12 }),
  durationMs: fc.integer({ min: 0, max: 8 }),
  outcome: fc.constantFrom<Outcome>("ok", "ok", "ok", "fail", "unknown"),
  neverCompletes: fc.boolean(),
});

describe("linearizability checker properties", () => {
  it("accepts every history produced by a sequential register (no false positives)", () => {
    fc.assert(
      fc.property(fc.array(plannedOp, { minLength: 1, maxLength: 40 }), fc.boolean(), (plans, uniqueValues) => {
        const result = checkLinearizable(runAgainstRegister(plans, uniqueValues));
        expect(result).toMatchObject({ ok: true });
      }),
      { numRuns: 500 },
    );
  });

  it("rejects a register history in which one GET returns a value overwritten before it began", () => {
    fc.assert(
      fc.property(fc.array(plannedOp, { minLength: 3, maxLength: 40 }), (plans) => {
        const mutated = plantImpossibleStaleRead(runAgainstRegister(plans, true));
        fc.pre(mutated !== null);
        if (mutated !== null) expect(checkLinearizable(mutated).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("rejects generated histories with one stale read planted", () => {
    for (const seed of ["m1", "m2", "m3", "m4", "m5"]) {
      const planted = plantStaleRead(generateRegisterHistory({ seed, opCount: 1000, keyCount: 5, clientCount: 8 }));
      if (planted === null) throw new Error(`seed ${seed}: no GET to plant a stale read in`);
      expectViolation(checkLinearizable(planted.history), planted.get.key);
    }
  });

  it("agrees with an exhaustive search on small arbitrary histories, and its witnesses are violations", () => {
    fc.assert(
      fc.property(fc.array(smallArbitraryOp, { minLength: 1, maxLength: 8 }), (specs) => {
        const h = history(
          ...specs.map((s) => ({
            kind: s.kind,
            key: s.key,
            value: s.value,
            invokeMs: s.invokeMs,
            completeMs: s.outcome === "unknown" && s.neverCompletes ? null : s.invokeMs + s.durationMs,
            outcome: s.outcome,
            clientId: "c",
          })),
        );
        const result = checkLinearizable(h);
        expect(result.ok).toBe(bruteForceLinearizable(h));
        if (!result.ok) expect(bruteForceLinearizable(result.ops)).toBe(false); // the witness is a violation too
      }),
      { numRuns: 5000 },
    );
  });
});

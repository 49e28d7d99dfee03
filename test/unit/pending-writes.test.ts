import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PendingWrites, logIndex, requestId } from "../../src/raft/index.js";

type Op = { readonly add: number } | { readonly commitTo: number } | { readonly clear: true };

describe("a leader's writes waiting to commit (PendingWrites)", () => {
  it("answers as the Map it replaced would, under appends at the end and commits in index order", () => {
    const op = fc.oneof(
      { weight: 4, arbitrary: fc.record({ add: fc.integer({ min: 1, max: 3 }) }) },
      { weight: 3, arbitrary: fc.record({ commitTo: fc.integer({ min: 0, max: 6 }) }) },
      { weight: 1, arbitrary: fc.record({ clear: fc.constant(true as const) }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops: Op[]) => {
        const writes = new PendingWrites();
        const model = new Map<number, number>();
        let last = 0; // the log's last index
        let committed = 0;
        let next = 1;
        for (const o of ops) {
          if ("add" in o) {
            last += o.add; // entries without a waiting write may lie between
            writes.add(logIndex(last), requestId(next));
            model.set(last, next++);
          } else if ("commitTo" in o) {
            const to = Math.min(last, committed + o.commitTo);
            for (let i = committed + 1; i <= to; i++) {
              const expected = model.get(i);
              model.delete(i);
              expect(writes.release(logIndex(i))).toBe(expected);
            }
            committed = Math.max(committed, to);
          } else {
            writes.clear();
            model.clear();
          }
          expect(writes.size).toBe(model.size);
          expect(writes.requests()).toEqual([...model.values()]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("refuses a write that is not above the last one waiting, and a commit that passes one over", () => {
    const writes = new PendingWrites();
    writes.add(logIndex(5), requestId(1));
    expect(() => writes.add(logIndex(5), requestId(2))).toThrow(/not above the last waiting one/);
    expect(writes.release(logIndex(4))).toBeUndefined();
    expect(() => writes.release(logIndex(6))).toThrow(/passed over/);
  });

  it("stays bounded under steady load, when some write is always waiting", () => {
    const writes = new PendingWrites();
    let released = 1;
    for (let i = 1; i <= 100_000; i++) {
      writes.add(logIndex(i), requestId(i));
      if (i > 10) expect(writes.release(logIndex(released))).toBe(released++); // ten always wait
    }
    expect(writes.size).toBe(10);
    expect(writes.capacity).toBeLessThanOrEqual(2 * 1024 + 10);
    expect(writes.requests()).toEqual([...Array(10).keys()].map((k) => 99_991 + k));
  });
});

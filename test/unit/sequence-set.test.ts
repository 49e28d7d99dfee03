import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SequenceSet } from "../../src/raft/index.js";

type Op = { readonly add: number } | { readonly dropBelow: number };

describe("a session's applied sequences (SequenceSet)", () => {
  it("answers as a Set of numbers would, in order, under adds in and out of order and rising bounds", () => {
    const op = fc.oneof(fc.record({ add: fc.integer({ min: 0, max: 300 }) }), fc.record({ dropBelow: fc.integer({ min: 0, max: 300 }) }));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 300 })), fc.array(op, { maxLength: 400 }), (initial, ops: Op[]) => {
        const set = new SequenceSet(initial);
        const model = new Set(initial);
        for (const o of ops) {
          if ("add" in o) {
            if (!model.has(o.add)) {
              set.add(o.add);
              model.add(o.add);
            }
          } else {
            set.dropBelow(o.dropBelow);
            for (const q of model) if (q < o.dropBelow) model.delete(q);
          }
          expect(set.size).toBe(model.size);
        }
        for (let q = -1; q <= 301; q++) expect(set.has(q)).toBe(model.has(q));
        expect(set.toArray()).toEqual([...model].sort((a, b) => a - b));
      }),
    );
  });

  it("keeps its storage bounded while sequences come in order and the bound follows them", () => {
    const set = new SequenceSet();
    for (let q = 1; q <= 100_000; q++) {
      set.add(q);
      set.dropBelow(q - 3);
    }
    expect(set.toArray()).toEqual([99_997, 99_998, 99_999, 100_000]);
    expect((set as unknown as { items: number[] }).items.length).toBeLessThan(40);
  });
});

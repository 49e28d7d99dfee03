import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NumberColumn } from "../../src/runtime/sim/checks/number-column.js";

type Op = { readonly push: number } | { readonly set: number; readonly to: number };

describe("a checker's column of numbers (NumberColumn)", () => {
  it("holds what an array would, across its chunks, under pushes and sets past the end", () => {
    const value = fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.constantFrom(-1, 2 ** 53, -0));
    const op = fc.oneof(fc.record({ push: value }), fc.record({ set: fc.integer({ min: 0, max: 9000 }), to: value }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.integer({ min: 0, max: 5000 }), (ops: Op[], pushesFirst) => {
        const column = new NumberColumn();
        const model: number[] = [];
        for (let k = 0; k < pushesFirst; k++) {
          column.push(k);
          model.push(k);
        }
        for (const o of ops) {
          if ("push" in o) {
            column.push(o.push);
            model.push(o.push);
          } else {
            column.set(o.set, o.to);
            for (let k = model.length; k < o.set; k++) model.push(0);
            model[o.set] = o.to;
          }
        }
        expect(column.length).toBe(model.length);
        for (let k = 0; k < model.length; k++) expect(Object.is(column.at(k), model[k])).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("refuses to read outside what it holds", () => {
    const column = new NumberColumn();
    column.push(1);
    expect(() => column.at(1)).toThrow(RangeError);
    expect(() => column.at(-1)).toThrow(RangeError);
    expect(() => column.set(-1, 0)).toThrow(RangeError);
  });
});

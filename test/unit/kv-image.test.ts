import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VersionedMap, type MapImage } from "../../src/raft/index.js";

type Op = { kind: "set"; key: string; value: string } | { kind: "image" } | { kind: "reset"; entries: [string, string][] } | { kind: "drop"; which: number };

const key = fc.constantFrom("a", "b", "c", "d", "e", "f", "g", "h");
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("set" as const), key, value: fc.string({ maxLength: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("image" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("drop" as const), which: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reset" as const), entries: fc.array(fc.tuple(key, fc.string({ maxLength: 3 })), { maxLength: 5 }) }) },
);

/** Every image held, with the plain copy a Map would have made at the same moment. */
function run(ops: readonly Op[], copyKeysMax: number | undefined): { held: { image: MapImage; copy: Map<string, string> }[]; map: VersionedMap; plain: Map<string, string> } {
  const map = new VersionedMap(copyKeysMax);
  let plain = new Map<string, string>();
  let held: { image: MapImage; copy: Map<string, string> }[] = [];
  for (const o of ops) {
    if (o.kind === "set") {
      map.set(o.key, o.value);
      plain.set(o.key, o.value);
    } else if (o.kind === "image") {
      held.push({ image: map.image(), copy: new Map(plain) });
    } else if (o.kind === "reset") {
      map.reset(o.entries);
      plain = new Map(o.entries);
    } else if (held.length > 0) {
      held = held.filter((_, i) => i !== o.which % held.length);
    }
  }
  return { held, map, plain };
}

describe("copy-on-write images of the state machine's map", () => {
  // copyKeysMax 0: every image takes a layer; 3: copies while the map is small, layers once it
  // outgrows them (images of both kinds held at once); the default: copies only.
  it("every image equals, in content and order, a copy taken at the same moment, whatever happens after it", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), fc.constantFrom(0, 3, undefined), (ops, copyKeysMax) => {
        const { held, map, plain } = run(ops, copyKeysMax);
        expect(map.size).toBe(plain.size);
        for (const k of ["a", "b", "c", "d", "e", "f", "g", "h"]) expect(map.get(k)).toBe(plain.get(k));
        for (const { image, copy } of held) {
          expect([...image]).toEqual([...copy]);
          expect([...image.keys()]).toEqual([...copy.keys()]);
          expect(image.size).toBe(copy.size);
          for (const k of ["a", "b", "c", "d", "e", "f", "g", "h"]) {
            expect(image.get(k)).toBe(copy.get(k));
            expect(image.has(k)).toBe(copy.has(k));
          }
        }
      }),
      { numRuns: 1500 },
    );
  });

  it("an image held while more keys are overwritten than it has copies its content once, and stays the same", () => {
    const map = new VersionedMap(0);
    for (let i = 0; i < 10; i++) map.set(`k${i}`, "old");
    const held = map.image();
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 10; i++) map.set(`k${i}`, `new${round}`);
      map.image();
    }
    expect(held.detached).toBe(true);
    expect(new Set(held.values())).toEqual(new Set(["old"]));
    map.set("k0", "later");
    expect(held.get("k0")).toBe("old");
    expect(held.size).toBe(10);
  });

  it("an image whose layers hold fewer records than it has keys keeps sharing the map", () => {
    const map = new VersionedMap(0);
    for (let i = 0; i < 10; i++) map.set(`k${i}`, "old");
    const held = map.image();
    map.set("k1", "new");
    map.image();
    expect(held.detached).toBe(false);
    expect(held.get("k1")).toBe("old");
  });

  it("an iteration that a detach interrupts goes on with the same content", () => {
    const map = new VersionedMap(0);
    for (let i = 0; i < 5; i++) map.set(`k${i}`, `v${i}`);
    const held = map.image();
    const it = held.entries();
    expect(it.next().value).toEqual(["k0", "v0"]);
    map.set("k3", "changed");
    map.set("new", "x");
    held.detach();
    expect([...it]).toEqual([["k1", "v1"], ["k2", "v2"], ["k3", "v3"], ["k4", "v4"]]);
  });

  it("an image of a small map is a copy of its own: later writes leave it as it was", () => {
    const map = new VersionedMap(10);
    for (let i = 0; i < 10; i++) map.set(`k${i}`, "old");
    const small = map.image();
    expect(small.detached).toBe(true);
    map.set("k1", "new");
    map.set("k10", "new");
    const large = map.image();
    expect(large.detached).toBe(false);
    map.set("k2", "newer");
    expect(small.get("k1")).toBe("old");
    expect(small.size).toBe(10);
    expect(large.get("k1")).toBe("new");
    expect(large.get("k2")).toBe("old");
    expect(large.size).toBe(11);
  });
});

// The lint step that keeps src/ free of import cycles: it must object to a real cycle and let
// type-only back-references (erased at compile time) pass.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const SCRIPT = path.resolve("scripts/check-cycles.mjs");

function check(files: Record<string, string>): { status: number | null; output: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "cycles-"));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
    const r = spawnSync(process.execPath, [SCRIPT, dir], { encoding: "utf8" });
    return { status: r.status, output: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("scripts/check-cycles.mjs", () => {
  it("reports two files that import each other, and exits 1", () => {
    const r = check({ "a.ts": 'import { b } from "./b.js";\nexport const a = () => b;\n', "b.ts": 'import { a } from "./a.js";\nexport const b = () => a;\n' });
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/import each other in a cycle: .*a\.ts, .*b\.ts/);
  });

  it("lets a type-only import close the loop, since it is erased", () => {
    const r = check({
      "a.ts": 'import { b } from "./b.js";\nexport interface A { x: number }\nexport const a = b;\n',
      "b.ts": 'import type { A } from "./a.js";\nexport const b = (v: A) => v.x;\n',
    });
    expect(r.status).toBe(0);
    expect(r.output).toMatch(/no import cycle among 2 files/);
  });
});

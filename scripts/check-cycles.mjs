#!/usr/bin/env node
// Lint step: no import cycle among the files of src/ (imports that survive compilation; type-only
// imports are erased and do not count). Prints each cycle and exits 1 if there is one.
//
//   node scripts/check-cycles.mjs [dir]     (default: src)

import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

const root = path.resolve(process.argv[2] ?? "src");
const files = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && e.name !== "gen") walk(p);
    else if (e.isFile() && p.endsWith(".ts") && !p.endsWith(".d.ts")) files.push(p);
  }
})(root);

/** Runtime imports of one file, as resolved file paths inside root. */
function importsOf(file) {
  const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false);
  const out = [];
  for (const st of source.statements) {
    let spec = null;
    if (ts.isImportDeclaration(st)) {
      const c = st.importClause;
      const typeOnly = c !== undefined && (c.isTypeOnly || (c.name === undefined && c.namedBindings !== undefined && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((el) => el.isTypeOnly)));
      if (!typeOnly) spec = st.moduleSpecifier.text;
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier !== undefined && !st.isTypeOnly) {
      const named = st.exportClause;
      const typeOnly = named !== undefined && ts.isNamedExports(named) && named.elements.length > 0 && named.elements.every((el) => el.isTypeOnly);
      if (!typeOnly) spec = st.moduleSpecifier.text;
    }
    if (spec === null || !spec.startsWith(".")) continue;
    const target = path.resolve(path.dirname(file), spec.replace(/\.js$/, ".ts"));
    if (fs.existsSync(target)) out.push(target);
  }
  return out;
}

const graph = new Map(files.map((f) => [f, importsOf(f)]));

// Tarjan's strongly connected components: any component of more than one file is a cycle.
let index = 0;
const stack = [];
const info = new Map();
const cycles = [];
function connect(v) {
  info.set(v, { index, low: index, onStack: true });
  index++;
  stack.push(v);
  for (const w of graph.get(v) ?? []) {
    if (!info.has(w)) {
      connect(w);
      info.get(v).low = Math.min(info.get(v).low, info.get(w).low);
    } else if (info.get(w).onStack) {
      info.get(v).low = Math.min(info.get(v).low, info.get(w).index);
    }
  }
  if (info.get(v).low === info.get(v).index) {
    const component = [];
    let w;
    do {
      w = stack.pop();
      info.get(w).onStack = false;
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component);
  }
}
for (const f of files) if (!info.has(f)) connect(f);

const rel = (f) => path.relative(process.cwd(), f);
if (cycles.length === 0) {
  process.stdout.write(`check-cycles: no import cycle among ${files.length} files of ${rel(root) || "."}\n`);
} else {
  for (const c of cycles) process.stderr.write(`check-cycles: these files import each other in a cycle: ${c.map(rel).sort().join(", ")}\n`);
  process.stderr.write("check-cycles: break each cycle (move the shared part down into a file both can import, or pass a function in)\n");
  process.exit(1);
}

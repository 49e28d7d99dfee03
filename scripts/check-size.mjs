#!/usr/bin/env node
// Lint step: files and functions small enough to read in one sitting. Reports every source file
// over 450 lines and every function, method, accessor, constructor or arrow of more than 70 lines
// (from the line it starts on to the line it ends on, both included; leading comments do not
// count), then exits 1. Long code is where the next change goes wrong unseen.
// Generated code (any folder named gen, such as src/gen/) is skipped: nobody edits it by hand.
//
//   node scripts/check-size.mjs [path ...]     (files or directories; default: src)

import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

const FILE_LINES_MAX = 450;
const FUNCTION_LINES_MAX = 70;

const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** Generated code is exempt wherever it is named: a path with a folder called gen. */
function generated(p) {
  return path.relative(process.cwd(), p).split(path.sep).includes("gen");
}

function sourceFiles(p, out) {
  if (generated(p)) return out;
  if (fs.statSync(p).isFile()) {
    out.push(p);
    return out;
  }
  for (const e of fs.readdirSync(p, { withFileTypes: true })) {
    const child = path.join(p, e.name);
    if (e.isDirectory() && e.name !== "node_modules") sourceFiles(child, out);
    else if (e.isFile() && SOURCE.test(e.name) && !e.name.endsWith(".d.ts")) out.push(child);
  }
  return out;
}

/** A readable name for a function node: its own, or the variable, property or class member it is. */
function nameOf(node, source) {
  if (ts.isConstructorDeclaration(node)) return "constructor";
  if (node.name !== undefined) return node.name.getText(source);
  const parent = node.parent;
  if (parent !== undefined && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))) {
    return parent.name.getText(source);
  }
  return ts.isArrowFunction(node) ? "(arrow function)" : "(anonymous function)";
}

function isFunctionLike(node) {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

/** Every problem in one file, as "file:line: what, what to do". */
function checkFile(file) {
  const text = fs.readFileSync(file, "utf8");
  const problems = [];
  const rel = path.relative(process.cwd(), file) || file;
  const lineCount = text.length === 0 ? 0 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
  if (lineCount > FILE_LINES_MAX) {
    problems.push(`${rel}:1: the file has ${lineCount} lines (at most ${FILE_LINES_MAX}): split it along its seams, one file per concept`);
  }
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (isFunctionLike(node) && node.body !== undefined) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > FUNCTION_LINES_MAX) {
        problems.push(`${rel}:${first + 1}: ${nameOf(node, source)} has ${lines} lines (at most ${FUNCTION_LINES_MAX}): split it along its steps into functions that each do one`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return problems;
}

const roots = process.argv.length > 2 ? process.argv.slice(2) : ["src"];
const files = [];
for (const r of roots) {
  if (!fs.existsSync(r)) {
    process.stderr.write(`check-size: ${r} does not exist; give files or directories to check\n`);
    process.exit(2);
  }
  sourceFiles(path.resolve(r), files);
}
const problems = files.sort().flatMap(checkFile);
if (problems.length === 0) {
  process.stdout.write(`check-size: ${files.length} files of ${roots.join(" ")}: none over ${FILE_LINES_MAX} lines, no function over ${FUNCTION_LINES_MAX}\n`);
} else {
  for (const p of problems) process.stderr.write(`${p}\n`);
  process.stderr.write(`check-size: ${problems.length} too long; shorten each as it says\n`);
  process.exit(1);
}

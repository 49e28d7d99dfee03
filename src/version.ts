// The package's version, read once from package.json (two levels up from dist/ or src/).

import { readFileSync } from "node:fs";

let cached: string | null = null;

export function packageVersion(): string {
  if (cached !== null) return cached;
  try {
    const json = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: unknown };
    cached = typeof json.version === "string" ? json.version : "unknown";
  } catch {
    cached = "unknown";
  }
  return cached;
}

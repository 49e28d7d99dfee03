// Running system commands (ip, nft, kill) for the fault-test runner: arguments as a list (no
// shell), a time bound on each, and errors that quote the command and what it printed.

import { execFile } from "node:child_process";

/** No system command the runner calls may take longer than this. */
const COMMAND_TIMEOUT_MS = 20_000;

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly output: string,
  ) {
    super(`${command} failed: ${output.trim() || "no output"}`);
    this.name = "CommandError";
  }
}

/** Runs `file args...`, feeding `input` on stdin; resolves to stdout, rejects with CommandError. */
export function run(file: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err === null) resolve(stdout);
      else reject(new CommandError([file, ...args].join(" "), `${stderr}${stdout}` || err.message));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Like run, but a failure is returned as its message instead of thrown (for cleanup paths). */
export async function tryRun(file: string, args: readonly string[]): Promise<string | null> {
  try {
    await run(file, args);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

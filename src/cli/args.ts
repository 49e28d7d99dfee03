// Command-line flag parsing shared by raft-node and raft-client: `--flag value`, `--flag=value`,
// boolean flags, `-h` for `--help`, `--` to end flags (other words starting with one dash, like
// `-5`, are plain arguments), and errors that name the flag and list the valid ones.
// Every problem is a UsageError, which the commands turn into exit status 2.

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface FlagSpec {
  readonly name: string; // without the leading dashes
  /** Placeholder of the value (`<id>`), or null for a boolean flag. */
  readonly value: string | null;
  readonly help: string;
}

export interface ParsedArgs {
  readonly flags: ReadonlyMap<string, string | true>;
  readonly positionals: readonly string[];
}

/** Arguments, at most (a bound on the parsing loop). */
const ARGS_MAX = 10_000;

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  if (argv.length > ARGS_MAX) throw new UsageError(`too many arguments (${argv.length}); at most ${ARGS_MAX}`);
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--") && arg !== "-h") {
      positionals.push(arg);
      continue;
    }
    const { name, inline } = splitFlag(arg);
    const spec = specs.find((s) => s.name === name);
    if (spec === undefined) throw new UsageError(`unknown flag ${arg.split("=")[0]}; valid flags: ${specs.map((s) => `--${s.name}`).join(", ")}`);
    if (flags.has(name)) throw new UsageError(`--${name} is given twice; give it once`);
    if (spec.value === null) {
      if (inline !== null) throw new UsageError(`--${name} takes no value, got "${inline}"`);
      flags.set(name, true);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === null && value.startsWith("--"))) throw new UsageError(`--${name} needs a value: --${name} ${spec.value}`);
    flags.set(name, value);
  }
  return { flags, positionals };
}

function splitFlag(arg: string): { name: string; inline: string | null } {
  if (arg === "-h") return { name: "help", inline: null };
  const body = arg.slice(2);
  const eq = body.indexOf("=");
  return eq < 0 ? { name: body, inline: null } : { name: body.slice(0, eq), inline: body.slice(eq + 1) };
}

/** Runs `f`; any Error it throws becomes a UsageError with the same message. */
export function asUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === "string" ? v : undefined;
}

export function requiredFlag(args: ParsedArgs, name: string, placeholder: string): string {
  const v = stringFlag(args, name);
  if (v === undefined) throw new UsageError(`--${name} is required: --${name} ${placeholder}`);
  return v;
}

/** A whole number in [min, max], or a UsageError naming the flag. */
export function parseWholeNumber(text: string, flag: string, min: number, max: number): number {
  const n = /^[0-9]{1,15}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${flag} ${JSON.stringify(text)} must be a whole number in ${min}-${max}`);
  return n;
}

/** `MIN-MAX`, two whole numbers of ms. */
export function parseRangeMs(text: string, flag: string): { minMs: number; maxMs: number } {
  const m = /^([0-9]{1,9})-([0-9]{1,9})$/.exec(text);
  if (m === null) throw new UsageError(`--${flag} ${JSON.stringify(text)} must be MIN-MAX in ms, e.g. 1000-2000`);
  return { minMs: Number(m[1]), maxMs: Number(m[2]) };
}

/** A duration: `500ms`, `10s`, `2m`, or a bare number of seconds. Returns ms. */
export function parseDuration(text: string, flag: string): number {
  const m = /^([0-9]{1,9}(?:\.[0-9]{1,3})?)(ms|s|m)?$/.exec(text.trim());
  const unitMs = m === null ? 0 : m[2] === "ms" ? 1 : m[2] === "m" ? 60_000 : 1_000;
  const ms = m === null ? NaN : Math.round(Number(m[1]) * unitMs);
  if (!(ms >= 1)) throw new UsageError(`--${flag} ${JSON.stringify(text)} must be a duration like 500ms, 10s or 2m`);
  return ms;
}

/** The flag table of a usage text. */
export function formatFlags(specs: readonly FlagSpec[]): string {
  const left = specs.map((s) => `  --${s.name}${s.value === null ? "" : ` ${s.value}`}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  // A help text's further lines (after "\n") line up under its first.
  return specs.map((s, i) => `${left[i]!.padEnd(width)}${s.help.split("\n").join(`\n${" ".repeat(width)}`)}`).join("\n");
}

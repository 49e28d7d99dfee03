// The node's event lines: each goes to dump.txt and to the console, with a timestamp prefix.
//
// Console lines are gathered for one event-loop turn and written with one write call, so a busy
// node does not pay a system call per line. Both outputs are bounded: when the console cannot keep
// up, lines are dropped and the drop is reported with a count (dump.txt has its own bound).
//
// With the json format the console gets one JSON object a line instead, for log shippers:
// {"time","node","term","event","fields","message"}, where `event` names what happened
// (`became-leader`, `rpc-error`, `warning`, ...), `fields` holds its details and `message` is the
// dump.txt line. dump.txt keeps its lines in both formats.

import { formatEvent, formatOperation, type ClientRequest, type Command, type RaftEvent } from "../../raft/index.js";
import { timestampPrefix } from "./clock.js";
import { abbreviate, EVENT_OPERATION_CHARS_MAX } from "./dump-writer.js";

export interface LineSink {
  write(text: string): unknown;
  readonly writableLength?: number;
}

export type LogFormat = "text" | "json";
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** What an event line is about, for the json format. */
export interface LogEvent {
  readonly event: string;
  readonly fields?: Readonly<Record<string, string | number | boolean | null>>;
}

const MESSAGE_EVENT: LogEvent = { event: "message" };

export interface EventLogOptions {
  /** Receives each timestamped line for dump.txt (without a newline). */
  readonly dump: (line: string) => void;
  /** Where console lines go; null for none (tests, --quiet). */
  readonly console: LineSink | null;
  /** Where warnings go besides dump.txt; null for none. */
  readonly warnings: LineSink | null;
  /** Console format (default text). */
  readonly format?: LogFormat;
  /** The node and its current term, for the json format. */
  readonly node?: number;
  readonly term?: () => number;
}

/** Console bytes buffered by the stream, at most, before lines are dropped. */
const CONSOLE_BUFFER_BYTES_MAX = 8 << 20;
/** Lines gathered in one turn, at most, before they are written at once. */
const PENDING_LINES_MAX = 4096;

export class EventLog {
  private pending: string[] = [];
  private flushScheduled = false;
  private droppedLineCount = 0;

  constructor(private readonly opts: EventLogOptions) {}

  /** Records one event line. */
  record(text: string, event: LogEvent = MESSAGE_EVENT): void {
    // One event a line: a line break inside an event (from a key or value) is shown escaped.
    const line = `${timestampPrefix()} ${text.replace(/\r/g, "\\r").replace(/\n/g, "\\n")}`;
    this.opts.dump(line);
    if (this.opts.console === null) return;
    this.pending.push(this.opts.format === "json" ? this.json(text, event) : line);
    if (this.pending.length >= PENDING_LINES_MAX) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Records a warning: to dump.txt and to the warnings stream at once. */
  warn(text: string): void {
    const line = `${timestampPrefix()} warning: ${text}`;
    this.opts.dump(line);
    this.opts.warnings?.write(`${this.opts.format === "json" ? this.json(text, { event: "warning" }) : line}\n`);
  }

  /** One event as one line of JSON (JSON.stringify escapes line breaks). */
  private json(text: string, e: LogEvent): string {
    const term = this.opts.term?.() ?? null;
    return JSON.stringify({ time: new Date().toISOString(), node: this.opts.node ?? null, term, event: e.event, fields: e.fields ?? {}, message: text });
  }

  /** Writes the gathered console lines now. */
  flush(): void {
    this.flushScheduled = false;
    const out = this.opts.console;
    if (out === null || this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    if ((out.writableLength ?? 0) > CONSOLE_BUFFER_BYTES_MAX) {
      this.droppedLineCount += lines.length;
      return;
    }
    if (this.droppedLineCount > 0) {
      lines.unshift(`(${this.droppedLineCount} console lines dropped: the console was slower than the events; dump.txt has them)`);
      this.droppedLineCount = 0;
    }
    out.write(`${lines.join("\n")}\n`);
  }
}

/** A core event's line, as dump.txt and the text console show it. */
export function coreEventText(e: RaftEvent): string {
  return formatEvent(e, showOperation);
}

/** An event's operation (`SET key value`) as its lines show it: cut short, since a value may take 64 KiB. */
function showOperation(o: ClientRequest | Command): string {
  return abbreviate(formatOperation(o), EVENT_OPERATION_CHARS_MAX);
}

/**
 * A core event for the json log format: its kind, and its other fields (nested ones flattened,
 * `ours.leaseMs`; the operation as its line shows it).
 */
export function coreLogEvent(e: RaftEvent): LogEvent {
  const { kind, ...rest } = e;
  const fields: Record<string, string | number | boolean | null> = {};
  for (const [name, value] of Object.entries(rest)) {
    if (name === "operation") fields[name] = showOperation(value as ClientRequest | Command);
    else if (typeof value === "object" && value !== null) for (const [inner, v] of Object.entries(value)) fields[`${name}.${inner}`] = v as number;
    else fields[name] = value as string | number | boolean | null;
  }
  return { event: kind, fields };
}

// A property the simulator checks has failed. Checkers throw it; the simulator stops the run,
// stamps the true time, and reports it with the command that replays the run.

export type Property =
  | "election safety"
  | "log matching"
  | "leader completeness"
  | "state machine safety"
  | "lease safety"
  | "membership safety"
  | "acknowledged write lost"
  | "linearizability"
  | "liveness"
  | "core invariant"
  | "output contract"
  | "scenario";

export class PropertyViolation extends Error {
  constructor(
    readonly property: Property,
    message: string,
    /** True time the violation happened, when it is earlier than when it was found. */
    readonly atMs: number | null = null,
  ) {
    super(message);
    this.name = "PropertyViolation";
  }
}

export function violated(property: Property, message: string, atMs: number | null = null): never {
  throw new PropertyViolation(property, message, atMs);
}

// The one error type of the RaftClient library, with a code saying what the caller may do.

export type RaftClientErrorCode =
  | "invalid" // the request is bad; retrying will not help
  | "timeout" // no node could serve it within the timeout; a SET may or may not have been applied
  | "busy" // too many SETs in flight on this client
  | "closed"; // the client was closed

export class RaftClientError extends Error {
  constructor(
    readonly code: RaftClientErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "RaftClientError";
  }
}

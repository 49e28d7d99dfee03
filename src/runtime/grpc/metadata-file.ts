// metadata.txt: `key value` lines, node_id, cluster, current_term, voted_for, commit_length, each
// ending in a checksum token (line-checksum.ts). Replaced atomically, so never torn: any damage stops
// the node with the file and line.

import { logIndex, nodeId as toNodeId, term as toTerm, type HardState, type NodeId } from "../../raft/index.js";
import { decodeToken, encodeToken } from "./escape.js";
import { corrupt } from "./file-io.js";
import { checkLine, withChecksum } from "./line-checksum.js";
import { parseCount, quote } from "./text-fields.js";

export interface Metadata {
  readonly nodeId: NodeId;
  readonly cluster: string;
  readonly hardState: HardState;
  /** 1-based line of each key, for error messages. */
  readonly lineOf: Readonly<Record<MetadataKey, number>>;
}

const METADATA_KEYS = ["node_id", "cluster", "current_term", "voted_for", "commit_length"] as const;
export type MetadataKey = (typeof METADATA_KEYS)[number];

export function encodeMetadata(id: NodeId, cluster: string, hardState: HardState): string {
  const votedFor = hardState.votedFor === null ? "none" : String(hardState.votedFor);
  return [
    `node_id ${id}`,
    `cluster ${encodeToken(cluster)}`,
    `current_term ${hardState.currentTerm}`,
    `voted_for ${votedFor}`,
    `commit_length ${hardState.commitIndex}`,
  ]
    .map((line) => `${withChecksum(line, "#")}\n`)
    .join("");
}

export function parseMetadata(text: string, filePath: string): Metadata {
  const lines = text.split("\n");
  const lastLine = lines.pop();
  if (lastLine !== "") throw corrupt(filePath, lines.length + 1, "the last line has no newline");
  const values = new Map<MetadataKey, { text: string; line: number }>();
  lines.forEach((line, i) => readMetadataLine(line, i + 1, filePath, values));
  const field = (key: MetadataKey): { text: string; line: number } => {
    const found = values.get(key);
    if (found === undefined) throw corrupt(filePath, lines.length + 1, `the ${key} line is missing`);
    return found;
  };
  const number = (key: MetadataKey): number => {
    const { text: valueText, line } = field(key);
    const n = parseCount(valueText, 0);
    if (n === null) throw corrupt(filePath, line, `bad ${key} ${quote(valueText)}`);
    return n;
  };
  const votedText = field("voted_for");
  const voted = votedText.text === "none" ? null : parseCount(votedText.text, 0);
  if (voted === null && votedText.text !== "none") throw corrupt(filePath, votedText.line, `bad voted_for ${quote(votedText.text)} (want a node id or none)`);
  const cluster = decodeToken(field("cluster").text);
  if (!cluster.ok) throw corrupt(filePath, field("cluster").line, `bad cluster: ${cluster.error}`);
  const hardState = { currentTerm: toTerm(number("current_term")), votedFor: voted === null ? null : toNodeId(voted), commitIndex: logIndex(number("commit_length")) };
  const lineOf = Object.fromEntries(METADATA_KEYS.map((key) => [key, field(key).line])) as Record<MetadataKey, number>;
  return { nodeId: toNodeId(number("node_id")), cluster: cluster.value, hardState, lineOf };
}

function readMetadataLine(checkedLine: string, lineNumber: number, filePath: string, values: Map<MetadataKey, { text: string; line: number }>): void {
  const checked = checkLine(checkedLine);
  if (!checked.ok) throw corrupt(filePath, lineNumber, checked.error);
  const line = checked.text;
  const fields = line.split(" ");
  const key = METADATA_KEYS.find((k) => k === fields[0]);
  if (fields.length !== 2 || key === undefined) throw corrupt(filePath, lineNumber, `bad line ${quote(line)} (want "<key> <value>" with key one of ${METADATA_KEYS.join(", ")})`);
  if (values.has(key)) throw corrupt(filePath, lineNumber, `${key} appears twice`);
  values.set(key, { text: fields[1] ?? "", line: lineNumber });
}

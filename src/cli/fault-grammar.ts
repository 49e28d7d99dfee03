// The `--faults` grammar as `raft-sim run --help` prints it. The parser is parseSchedule in
// src/runtime/sim/faults/faults.ts; test/scenarios/sim-cli.test.ts parses every row and example
// below with it and checks that every verb the parser knows is listed here. docs/simulator.md has
// the long form.

/** One row of the verb table: its usage (after the time) and what it does. */
export interface FaultVerbHelp {
  readonly usage: string;
  readonly help: string;
}

export const FAULT_VERBS: readonly FaultVerbHelp[] = [
  { usage: "crash <target>", help: "crash now (writes not yet synced are lost)" },
  { usage: "crash-mid <target>", help: "crash at its next step that sends: after the disk write, before any send" },
  { usage: "crash-append <target>", help: "the same, at its next step that grows its log" },
  { usage: "crash-commit <target>", help: "the same, at its next step that commits as leader" },
  { usage: "crash-elected <target>", help: "the same, at its next step that makes it leader" },
  { usage: "kill <target>", help: "the process dies (SIGKILL) but the machine runs on: unsynced writes stay in the page cache" },
  { usage: "kill-append <target>", help: "the same, at its next step that grows its log: after the write, before its sync" },
  { usage: "power-off <target>", help: "the machine loses power: a running node crashes, a stopped one loses its page cache" },
  { usage: "restart <target>", help: "restart crashed nodes (* a random crashed one, all every one)" },
  { usage: "pause <target>", help: "stop the process (GC pause, SIGSTOP) while time goes on" },
  { usage: "resume <target>", help: "resume paused nodes" },
  { usage: "partition 0,1|2,3,4", help: "groups that cannot talk to each other; a node in no group is alone" },
  { usage: "isolate <target>", help: "cut the node from every other, both ways" },
  { usage: "cut-out <target>", help: "messages from the node are lost" },
  { usage: "cut-in <target>", help: "messages to the node are lost" },
  { usage: "sever <target> <target>", help: "cut the link between two nodes, both ways" },
  { usage: "bridge <target>", help: "the node and half the others on one side, the rest on the other, one node talks to both" },
  { usage: "slow <target> <target> <ms>", help: "messages from the first node to the second take <ms> longer" },
  { usage: "heal", help: "end every partition, cut, severed and slow link" },
  { usage: "net <setting>...", help: 'change the network (settings below); "net calm" restores it' },
  { usage: "jump <target> <ms>", help: "the node's clock leaps <ms> forward (beyond any drift bound)" },
  { usage: "quiet", help: "faults stop: heal, calm network, resume and restart every node; the operator stops" },
  { usage: "add <id>", help: "node <id> joins as a learner (started empty if new; a removed node keeps its disk)" },
  { usage: "remove <target>", help: "the operator removes the member (L: the leader, which steps down once that commits)" },
  { usage: "replace <target> <id>", help: "the operator adds node <id>, then removes the member" },
  { usage: "transfer [<target>]", help: "the operator asks the leader to hand leadership over (to the node, or the best voter)" },
  { usage: "sigterm <target> [<ms>]", help: "the node hands leadership over, then its process exits; restarted <ms> later if given" },
];

/** Network settings of the `net` verb, each optional. */
export const NET_SETTINGS: readonly FaultVerbHelp[] = [
  { usage: "delay=A-B", help: "every delivery takes a uniform A-B ms..." },
  { usage: "tail=M", help: "...plus an exponential tail of mean M ms" },
  { usage: "loss=P", help: "a message is lost with probability P (in [0, 1])" },
  { usage: "dup=P", help: "a message is delivered twice with probability P" },
  { usage: "reorder=P/MS", help: "with probability P a message is held back up to MS ms, overtaken by later ones" },
  { usage: "long=P/A-B", help: "with probability P a message takes A-B ms (a stalled connection)" },
  { usage: "late=P/A-B", help: "with probability P a ghost copy arrives A-B ms after its message (across crashes, reboots, terms); quiet drops them" },
];

export const FAULTS_EXAMPLE = "1200 crash L; 3000 restart all; 4000 partition 0,1|2,3,4; 6000 heal; 7000 net loss=0.1 delay=1-20";

function table(rows: readonly FaultVerbHelp[], prefix: string): string {
  const width = Math.max(...rows.map((r) => r.usage.length)) + prefix.length + 2;
  return rows.map((r) => `  ${(prefix + r.usage).padEnd(width)}${r.help}`).join("\n");
}

export const FAULT_GRAMMAR = `The fault schedule (--faults): faults separated by ";", each "<ms> <verb> [arguments]", <ms> in
simulated time. It replaces the scenario's faults; none may fall in the quiet period at the end of
a run, when faults stop so that liveness can be checked.

Targets: L the leader (a random node if none fits), F a random follower, * a random node,
all every node, n2 node 2. A target that fits no node does nothing. Nodes that join (add 5)
exist from then on; the operator's requests (add, remove, replace, transfer) go to the node it
believes leads, one at a time, retried like a client's.

${table(FAULT_VERBS, "<ms> ")}

Network settings (net; unset ones keep their value, "net calm" restores every one):
${table(NET_SETTINGS, "")}

Example: --faults "${FAULTS_EXAMPLE}"
More in docs/simulator.md.`;

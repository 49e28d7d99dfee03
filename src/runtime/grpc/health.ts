// The standard gRPC health service (grpc.health.v1.Health, from grpc-health-check) on a node's
// port. A node reports SERVING only while it is part of a cluster with a known leader: it is the
// leader, or it heard from one and has not started an election since. Cut off from the majority,
// a follower starts (pre-)elections and a leader loses its lease and steps down; both then report
// NOT_SERVING. The overall status ("") and the client service's status are always the same.

import type { Server } from "@grpc/grpc-js";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";

/** The service names a health check may ask about. */
export const HEALTH_SERVICES = ["", "raftlease.RaftClient"] as const;

export class NodeHealth {
  private readonly impl: HealthImplementation;
  private current: ServingStatus = "NOT_SERVING";

  constructor(server: Server) {
    this.impl = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((s) => [s, this.current])));
    this.impl.addToServer(server);
  }

  get status(): ServingStatus {
    return this.current;
  }

  /** The node knows a leader (serving) or not. */
  update(leaderKnown: boolean): void {
    this.set(leaderKnown ? "SERVING" : "NOT_SERVING");
  }

  /** A stopping node serves no more. */
  stop(): void {
    this.set("NOT_SERVING");
  }

  private set(status: ServingStatus): void {
    if (status === this.current) return;
    this.current = status;
    for (const s of HEALTH_SERVICES) this.impl.setStatus(s, status);
  }
}

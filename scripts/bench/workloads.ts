/**
 * The workloads: what the client does, how much of it in the full and the
 * quick run, and how its figures are reported.
 *
 * @module
 */

const MiB = 1024 * 1024;

/** How a workload's result turns into figures. */
export type WorkloadKind = "ops" | "bytes" | "idle";

/** One workload of the benchmark. */
export interface Workload {
  /** Key in results and tables. */
  readonly name: string;
  /** Row title. */
  readonly title: string;
  readonly kind: WorkloadKind;
  /** Options for `load_client.mjs` (besides port, user, password), full or quick size. */
  clientOptions(quick: boolean): Record<string, unknown>;
  /** Seconds to hold idle sessions (idle only). */
  idleSeconds?(quick: boolean): number;
}

function bulk(name: string, title: string): Workload {
  return {
    name,
    title,
    kind: "bytes",
    clientOptions: (quick) => ({ workload: name, bytes: (quick ? 64 : 512) * MiB }),
  };
}

/** Every workload, in table order. */
export const WORKLOADS: readonly Workload[] = [
  {
    name: "handshake-c1",
    title: "handshake, c=1 (connect, kex, password, exec true, close)",
    kind: "ops",
    clientOptions: (quick) => ({ workload: "handshake", count: quick ? 30 : 200, concurrency: 1 }),
  },
  {
    name: "handshake-c8",
    title: "handshake, c=8",
    kind: "ops",
    clientOptions: (quick) => ({ workload: "handshake", count: quick ? 64 : 400, concurrency: 8 }),
  },
  {
    name: "exec",
    title: "exec `true` ×N on one connection",
    kind: "ops",
    clientOptions: (quick) => ({ workload: "exec", count: quick ? 100 : 500 }),
  },
  bulk("upload", "upload (`cat > /dev/null`)"),
  bulk("download", "download (`head -c`)"),
  bulk("forward-up", "direct-tcpip up"),
  bulk("forward-down", "direct-tcpip down"),
  {
    name: "idle",
    title: "idle sessions (open channel running `cat`)",
    kind: "idle",
    clientOptions: (quick) => ({ workload: "idle", count: quick ? 50 : 200 }),
    idleSeconds: (quick) => quick ? 3 : 10,
  },
  {
    name: "openssh-handshake",
    title: "handshake, c=1, OpenSSH `ssh` client (cross-check)",
    kind: "ops",
    clientOptions: (quick) => ({ workload: "openssh-handshake", count: quick ? 10 : 50 }),
  },
];

/**
 * The workloads: what the client does, how much of it in the full and the
 * quick run, and how its figures are reported.
 *
 * @module
 */

const MiB = 1024 * 1024;

/** How a workload's result turns into figures. */
export type WorkloadKind = "ops" | "bytes" | "idle" | "scale";

/** What a scale workload does: hold sessions, then measure handshakes and execs beside them. */
export interface ScaleSpec {
  /** Idle authenticated sessions (no channel) held by another client while measuring. */
  held(quick: boolean): number;
  /** Handshakes at c=1 measured (connect, kex, password, exec `true`, close). */
  handshakes(quick: boolean): number;
  /** Execs of `true` measured, one after another on one connection. */
  execs(quick: boolean): number;
}

/** One workload of the benchmark. */
export interface Workload {
  /** Key in results and tables. */
  readonly name: string;
  /** Row title. */
  readonly title: string;
  readonly kind: WorkloadKind;
  /** Options for `load_client.mjs` (besides port, user, password), full or quick size. */
  clientOptions(quick: boolean): Record<string, unknown>;
  /** Seconds to hold idle sessions (idle and scale only). */
  idleSeconds?(quick: boolean): number;
  /** Scale only. */
  scale?: ScaleSpec;
  /** The servers it runs on, when not all. */
  servers?: readonly string[];
}

/** The point of the scale workload that holds `held` sessions (a twentieth of it in the quick run). */
function scale(held: number): Workload {
  return {
    name: `scale-${held}`,
    title: `scale: handshakes and execs with ${held.toLocaleString("en-US")} idle sessions held`,
    kind: "scale",
    clientOptions: () => ({}),
    idleSeconds: (quick) => quick ? 3 : 10,
    scale: {
      held: (quick) => quick ? held / 20 : held,
      handshakes: (quick) => quick ? 100 : 1000,
      execs: (quick) => quick ? 200 : 1000,
    },
    // sshd forks a process per connection: 10,000 of them is not the comparison this is about.
    servers: ["ours-deno", "ours-node", "ssh2", "c"],
  };
}

/** Sessions held at each point of the scale workload (full run). */
export const SCALE_POINTS = [0, 2000, 10000] as const;

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
  ...SCALE_POINTS.map(scale),
  {
    name: "openssh-handshake",
    title: "handshake, c=1, OpenSSH `ssh` client (cross-check)",
    kind: "ops",
    clientOptions: (quick) => ({ workload: "openssh-handshake", count: quick ? 10 : 50 }),
  },
];

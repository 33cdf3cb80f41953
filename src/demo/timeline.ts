/**
 * The DemoServer's timeline: what happened, when, for which client. Secrets
 * (passwords, keyboard-interactive answers) are never recorded.
 *
 * @module
 */

/**
 * One recorded event. The events and their `data` fields (the README's
 * timeline table says when each is recorded):
 *
 * - the server (client 0): `listening` {host, port}, `closed`,
 *   `handler-error` {error}, `limit` {limit} (also per client),
 *   `spawner-started` {pid}, `spawner-exited` {pid, code or signal,
 *   killed}, `spawner-unavailable` {reason}
 * - a connection: `connected` {peer}, `kex-done`, `kex-failed` {reason},
 *   `callback-error` {context, error}, `disconnected` (its last entry)
 * - login: `auth-password` {user, ok}, `auth-none` {user, ok},
 *   `auth-publickey` {user, key, known, signed}, `auth-kbdint` {user, step,
 *   ok}, `auth-success` {user, method}
 * - session channels: `channel-open` {type}, `env` {name}, `pty` {term,
 *   columns, rows}, `window-change` {columns, rows}, `exec` {command, pty}
 *   or {command, handler}, `exec-error` {error}, `exit-status` {code},
 *   `exit-signal` {signal}, `signal` {signal}, `subsystem-refused`
 *   {subsystem}, `channel-close`
 * - forwarding: `forward-open` {host, port, origin}, `forward-refused`
 *   {host, port, reason}, `forward-failed` {host, port, reason},
 *   `forward-closed` {host, port, up, down},
 *   `reverse-forward` {host, port}, `reverse-forward-refused` {host, port,
 *   reason}, `reverse-forward-cancelled` {host, port},
 *   `forwarded-tcpip-open` {port, origin}, `forwarded-tcpip-refused` {port,
 *   reason}, `forwarded-tcpip-closed` {port, up, down}
 *
 * @example The commands clients ran
 * ```ts
 * import { DemoServer, type TimelineEntry } from "@libssh/libssh/demo";
 *
 * await using ds = await DemoServer.start();
 * const commands = (entries: readonly TimelineEntry[]) =>
 *   entries.filter((entry) => entry.event === "exec").map((entry) => entry.data.command);
 * console.log(commands(ds.timeline));
 * ```
 */
export interface TimelineEntry {
  /** Milliseconds since the server started. */
  time: number;
  /** The client's number, `DemoClient.id` (0 for the server itself). */
  client: number;
  /** What happened, e.g. `"auth-password"`, `"exec"`, `"exit-status"` (see above). */
  event: string;
  /** Details, per event as listed above (never a secret). */
  data: Record<string, unknown>;
}

const DATA_WIDTH = 80;

function describe(data: Record<string, unknown>): string {
  let text: string;
  try {
    text = Object.entries(data).map(([k, v]) =>
      `${k}=${typeof v === "string" ? JSON.stringify(v) : String(v)}`
    )
      .join(" ");
  } catch {
    text = "(unprintable)";
  }
  return text.length > DATA_WIDTH ? `${text.slice(0, DATA_WIDTH - 1)}…` : text;
}

/** A list of timeline entries that can print itself; it keeps the newest `limit` (the oldest are dropped and counted). */
export class Timeline {
  readonly #start = performance.now();
  /** Entries kept at most. */
  readonly limit: number;
  /** The entries, oldest first. */
  readonly entries: TimelineEntry[] = [];
  /** Entries dropped because the timeline was full. */
  dropped = 0;
  /** Called with each new entry (the `verbose` printer). */
  onEntry: ((entry: TimelineEntry) => void) | undefined;

  constructor(limit: number = 10_000) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError("the timeline limit must be a positive integer");
    }
    this.limit = limit;
  }

  /** Records an event. */
  record(client: number, event: string, data: Record<string, unknown> = {}): void {
    const entry = { time: Math.round((performance.now() - this.#start) * 10) / 10, client, event, data };
    this.entries.push(entry);
    if (this.entries.length > this.limit) {
      this.entries.shift();
      this.dropped++;
    }
    try {
      this.onEntry?.(entry);
    } catch { /* a failing printer must not break the server */ }
  }

  /** Formats one entry as a table row. */
  static format(entry: TimelineEntry): string {
    const time = entry.time.toFixed(1).padStart(9);
    const client = String(entry.client).padStart(6);
    return `${time}  ${client}  ${entry.event.padEnd(18)}  ${describe(entry.data)}`;
  }

  /** The whole timeline as a table. */
  toString(): string {
    const header = `  time ms  client  ${"event".padEnd(18)}  data`;
    const dropped = this.dropped > 0 ? [`(${this.dropped} older entries dropped)`] : [];
    return [header, ...dropped, ...this.entries.map(Timeline.format)].join("\n");
  }
}

/**
 * Limits a server applies to its connections, with safe defaults.
 *
 * @module
 */

/**
 * Limits enforced by `listen()` on every session it accepts: every buffer,
 * queue and table a client can fill has one. Set them on the `Bind`
 * (`new Bind({ limits })`) or per `listen()` call (`{ limits }`, which wins).
 * At a limit the server either applies back-pressure (the SSH window, the
 * socket) or refuses with a reason, and reports it to `onLimit`; it never
 * just grows.
 *
 * @example
 * ```ts
 * import { Bind, SshKey } from "@libssh/libssh";
 *
 * const bind = new Bind({
 *   hostKey: SshKey.generate("ed25519"),
 *   limits: { maxAuthAttempts: 3, loginGraceTime: 30_000, idleTimeout: 600_000 },
 * });
 * await bind.close();
 * ```
 */
export interface ServerLimits {
  /** Failed authentication attempts (password, public key, keyboard-interactive) before the client is disconnected. Default 6, as sshd's `MaxAuthTries`. */
  maxAuthAttempts?: number;
  /** Milliseconds a client has to log in (key exchange included) before it is disconnected. Default 120000, as sshd's `LoginGraceTime`. */
  loginGraceTime?: number;
  /**
   * Connections that have not logged in yet, at most (the "full" of sshd's
   * `MaxStartups start:rate:full`). A connection that arrives at this many
   * takes the place of the waiting one that has done the least (sent
   * nothing, then the oldest), which is dropped. Default 100.
   */
  maxUnauthenticated?: number;
  /**
   * From this many connections not logged in yet on, each new one drops the
   * waiting one that has done the least with a probability that rises from
   * `maxUnauthenticatedRate` percent to 100% at `maxUnauthenticated` (random
   * early drop, as sshd's `MaxStartups start:rate:full`): idle connections
   * cannot lock anyone out. Default 10.
   */
  maxUnauthenticatedStart?: number;
  /** The drop probability at `maxUnauthenticatedStart`, in percent (1 to 100). Default 30. */
  maxUnauthenticatedRate?: number;
  /** Open channels per session (sessions and forwardings), at most; further opens are refused. Default 64. */
  maxChannelsPerSession?: number;
  /** Milliseconds without any traffic after which a session is disconnected. Default: none. */
  idleTimeout?: number;
  /**
   * Bytes of one channel's input held in this process (a `readable` stream's
   * queue, the DemoServer's stdin queue) before the channel stops taking
   * data: libssh then keeps the rest and stops growing the client's window,
   * so the client waits (back-pressure, nothing is refused). Default 1 MiB.
   */
  channelInputHighWaterMark?: number;
  /**
   * Bytes of input all channels of one session together hold in this process
   * before each stops taking data (back-pressure, as above): the cap on what
   * a session makes the server hold beside libssh's own windows. Default 8 MiB.
   */
  sessionInputHighWaterMark?: number;
  /**
   * Bytes libssh may hold for one session's socket (output the client has not
   * read yet) before `channel.write()` waits; at twice this much the server
   * also stops reading the client, whose requests' answers pile up unread.
   * Default 1 MiB.
   */
  sessionOutputHighWaterMark?: number;
  /** Env requests accepted per channel; further ones are refused. Default 64. */
  maxEnvRequestsPerChannel?: number;
  /** Bytes of names and values of the env requests accepted per channel; a request past it is refused. Default 65536. */
  maxEnvBytesPerChannel?: number;
  /** Reverse forwardings (`tcpip-forward` requests granted, not cancelled) per session; further requests are refused. Default 16. */
  maxReverseForwardsPerSession?: number;
}

/** Which limit a session went over. */
export type LimitName = keyof ServerLimits;

/** The defaults of `ServerLimits`. */
export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  maxAuthAttempts: 6,
  loginGraceTime: 120_000,
  maxUnauthenticated: 100,
  maxUnauthenticatedStart: 10,
  maxUnauthenticatedRate: 30,
  maxChannelsPerSession: 64,
  channelInputHighWaterMark: 1024 * 1024,
  sessionInputHighWaterMark: 8 * 1024 * 1024,
  sessionOutputHighWaterMark: 1024 * 1024,
  maxEnvRequestsPerChannel: 64,
  maxEnvBytesPerChannel: 65_536,
  maxReverseForwardsPerSession: 16,
};

/** Limits with every default filled in, checked. */
export interface ResolvedLimits extends Required<Omit<ServerLimits, "idleTimeout">> {
  idleTimeout?: number;
}

/** Merges limit sets (later ones win) over the defaults; throws RangeError on a bad value. */
export function resolveLimits(...sets: (ServerLimits | undefined)[]): ResolvedLimits {
  const merged: ServerLimits = { ...DEFAULT_LIMITS };
  for (const set of sets) {
    if (set === undefined) continue;
    if (typeof set !== "object" || set === null) throw new TypeError("limits must be an object");
    for (const [name, value] of Object.entries(set)) {
      if (!(name in KNOWN)) throw new TypeError(`unknown limit: ${name}`);
      if (value === undefined) continue;
      if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
        throw new RangeError(`limits.${name} must be a positive integer, not ${value}`);
      }
      merged[name as LimitName] = value;
    }
  }
  if (merged.maxUnauthenticatedRate! > 100) {
    throw new RangeError(
      `limits.maxUnauthenticatedRate is a percentage, not ${merged.maxUnauthenticatedRate}`,
    );
  }
  return merged as ResolvedLimits;
}

const KNOWN: Record<LimitName, true> = {
  maxAuthAttempts: true,
  loginGraceTime: true,
  maxUnauthenticated: true,
  maxUnauthenticatedStart: true,
  maxUnauthenticatedRate: true,
  maxChannelsPerSession: true,
  idleTimeout: true,
  channelInputHighWaterMark: true,
  sessionInputHighWaterMark: true,
  sessionOutputHighWaterMark: true,
  maxEnvRequestsPerChannel: true,
  maxEnvBytesPerChannel: true,
  maxReverseForwardsPerSession: true,
};

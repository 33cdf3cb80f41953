/**
 * Limits a server applies to its connections, with safe defaults.
 *
 * @module
 */

/**
 * Limits enforced by `listen()` on every session it accepts. Set them on the
 * `Bind` (`new Bind({ limits })`) or per `listen()` call (`{ limits }`, which
 * wins). A session that goes over a limit is disconnected (or, for channels,
 * refused) and reported to `onLimit`.
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
  /** Connections that have not logged in yet, at most; further ones are closed at once. Default 100. */
  maxUnauthenticated?: number;
  /** Open channels per session (sessions and forwardings), at most; further opens are refused. Default 64. */
  maxChannelsPerSession?: number;
  /** Milliseconds without any traffic after which a session is disconnected. Default: none. */
  idleTimeout?: number;
}

/** Which limit a session went over. */
export type LimitName = keyof ServerLimits;

/** The defaults of `ServerLimits`. */
export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  maxAuthAttempts: 6,
  loginGraceTime: 120_000,
  maxUnauthenticated: 100,
  maxChannelsPerSession: 64,
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
  return merged as ResolvedLimits;
}

const KNOWN: Record<LimitName, true> = {
  maxAuthAttempts: true,
  loginGraceTime: true,
  maxUnauthenticated: true,
  maxChannelsPerSession: true,
  idleTimeout: true,
};

/**
 * `SessionEvent`: the poller of one session (`ssh_event`).
 *
 * @module
 */

import type { Pointer } from "../ffi/backend.ts";
import { SSH_ERROR, SSH_OK } from "../ffi/constants.ts";
import { closedError, SshError } from "./errors.ts";
import { type AttachedEvent, SESSION_CORE, type SessionCore } from "./_session_core.ts";
import type { Session } from "./session.ts";

/** Options of `SessionEvent.close`. */
export interface EventCloseOptions {
  /**
   * Compatibility (LibSSH.jl): there it skips the event's lock. Here
   * every libssh call runs on the JS thread, so there is no lock to skip and
   * closing is always safe: inside the session's own callbacks the free waits
   * until libssh has returned.
   */
  unsafe?: boolean;
}

/** A `SessionEvent`'s state, as its session sees it: methods of one small object, not closures per session. */
class EventAttachment implements AttachedEvent {
  handle: Pointer;
  session: SessionCore | undefined;
  waiters: ((rc: number) => void)[] = [];

  constructor(handle: Pointer, session: SessionCore) {
    this.handle = handle;
    this.session = session;
  }

  dispatched(rc: number): void {
    const waiters = this.waiters;
    this.waiters = [];
    const result = rc === SSH_ERROR || this.session?.disconnected ? SSH_ERROR : SSH_OK;
    for (const resolve of waiters) resolve(result);
  }

  /** Removes the session from the native event and frees it. */
  detach(): void {
    const core = this.session;
    const handle = this.handle;
    if (!core || handle === null) return;
    this.handle = null;
    this.session = undefined;
    const { libssh } = core.backend;
    libssh.ssh_event_remove_session(handle, core.handle);
    libssh.ssh_event_free(handle);
    if (core.event?.handle === handle) core.event = undefined;
    core.updateInterest();
    this.dispatched(SSH_ERROR);
  }
}

/**
 * Processes one session's packets: while it exists, the reactor runs
 * `ssh_event_dopoll` whenever the session's socket is ready, which runs the
 * session's and its channels' callbacks. One session per event (sharing an
 * event among sessions is unsafe in libssh 0.10).
 *
 * @example
 * ```ts
 * import { type Session, SessionEvent } from "@libssh/libssh";
 *
 * async function serve(session: Session): Promise<void> {
 *   if (!await session.handleKeyExchange()) return;
 *   using event = new SessionEvent(session);
 *   while (await event.doPoll() === 0) {
 *     // one batch of packets was processed
 *   }
 * }
 * ```
 */
export class SessionEvent {
  readonly #attachment: EventAttachment;

  /** Creates an event holding `session`; its packets are processed from now on. */
  constructor(session: Session) {
    const core = session[SESSION_CORE].live();
    if (core.event) throw new TypeError("the session already has a SessionEvent");
    const { libssh } = core.backend;
    const handle = libssh.ssh_event_new();
    if (handle === null) throw new SshError("libssh", "creating the event failed");
    const rc = libssh.ssh_event_add_session(handle, core.handle);
    if (rc !== SSH_OK) libssh.ssh_event_free(handle);
    core.check(rc, "adding the session to the event");
    this.#attachment = new EventAttachment(handle, core);
    core.event = this.#attachment;
    if (core.disconnected) this.#attachment.dispatched(SSH_ERROR);
    core.updateInterest();
  }

  /** Whether the event still holds a native `ssh_event`. */
  get isAssigned(): boolean {
    return this.#attachment.handle !== null;
  }

  /** The session it polls. */
  get session(): Session {
    const core = this.#attachment.session;
    if (!core) throw closedError("SessionEvent");
    return core.owner;
  }

  /**
   * Waits until the session's socket had something and libssh processed it
   * (callbacks included). Resolves `SSH_OK` (0), or `SSH_ERROR` (-1) once the
   * session is disconnected.
   */
  doPoll(): Promise<number> {
    const { session: core, handle } = this.#attachment;
    if (!core || handle === null) return Promise.reject(closedError("SessionEvent"));
    if (core.disconnected) return Promise.resolve(SSH_ERROR);
    return new Promise((resolve) => this.#attachment.waiters.push(resolve));
  }

  /**
   * Stops polling the session and frees the event. Idempotent; the session
   * stays open (its packets are no longer processed).
   */
  close(_options?: EventCloseOptions): void {
    const attachment = this.#attachment;
    const core = attachment.session;
    if (!core || attachment.handle === null) return;
    core.defer(() => attachment.detach());
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

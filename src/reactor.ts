/**
 * The reactor: one `poll()` on a worker thread over every socket this process
 * serves, dispatching readiness to handlers on the JS thread.
 *
 * No timers, no busy loop: an idle server sleeps in `poll()`. Any change to the
 * set of descriptors wakes the poll through an eventfd, so closing an object
 * takes effect at once. When no descriptor is watched the loop ends and the
 * process may exit.
 *
 * @module
 */

import { native } from "../ffi/load.ts";
import { Poller } from "../ffi/poller.ts";

/** Microtask turns the loop yields after dispatching, before it polls again. */
const SETTLE_TURNS = 16;

/** Reacts to `poll()` results for one descriptor. */
export type ReadyHandler = (revents: number) => void;

/** A descriptor registered with the reactor. */
export class Watch {
  readonly fd: number;
  #events: number;
  #closed = false;
  readonly #reactor: Reactor;
  readonly onReady: ReadyHandler;

  constructor(reactor: Reactor, fd: number, events: number, onReady: ReadyHandler) {
    this.#reactor = reactor;
    this.fd = fd;
    this.#events = events;
    this.onReady = onReady;
  }

  /** The poll() events asked for; 0 pauses the watch. */
  get events(): number {
    return this.#events;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Changes the events asked for. */
  setEvents(events: number): void {
    if (this.#closed || events === this.#events) return;
    this.#events = events;
    this.#reactor.changed();
  }

  /** Stops watching. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reactor.remove(this);
  }
}

/** Reports an error thrown by a ready handler (which should not throw). */
export type ReactorErrorSink = (error: unknown) => void;

class Reactor {
  readonly #watches = new Set<Watch>();
  #poller: Poller | undefined;
  #running = false;
  #waiting = false;
  /** The watches with events, in the poller's order; rebuilt when `#dirty`. */
  #active: Watch[] = [];
  #dirty = true;
  onError: ReactorErrorSink = (error) => console.error("libssh reactor:", error);

  watch(fd: number, events: number, onReady: ReadyHandler): Watch {
    const watch = new Watch(this, fd, events, onReady);
    this.#watches.add(watch);
    this.changed();
    return watch;
  }

  remove(watch: Watch): void {
    this.#watches.delete(watch);
    this.changed();
  }

  /** The set or an interest changed: rebuild the poll set. */
  changed(): void {
    this.#dirty = true;
    if (this.#waiting) this.#poller?.wake();
    else if (!this.#running) void this.#run();
  }

  async #run(): Promise<void> {
    this.#running = true;
    const poller = this.#poller ??= new Poller(native());
    try {
      while (true) {
        if (this.#dirty) {
          this.#dirty = false;
          this.#active = [];
          for (const watch of this.#watches) if (watch.events !== 0) this.#active.push(watch);
          poller.setRequests(this.#active);
        }
        const active = this.#active;
        if (active.length === 0) break;
        // Always through the worker thread, which also lets the event loop run: polling on the
        // JS thread first saved hand-offs under load, but starved the rest of the process.
        this.#waiting = true;
        try {
          await poller.wait();
        } finally {
          this.#waiting = false;
        }
        // Woken because the set changed: poll the new one.
        if (this.#dirty) continue;
        for (let i = 0; i < active.length; i++) {
          const revents = poller.revents(i);
          const watch = active[i];
          if (revents === 0 || watch.closed) continue;
          try {
            watch.onReady(revents);
          } catch (error) {
            this.onError(error);
          }
        }
        // The handlers' promise continuations usually change what to wait for
        // (a stream reads again, a write finished): let them run first, so the
        // next poll has the new set instead of being woken to rebuild it.
        for (let turn = 0; turn < SETTLE_TURNS; turn++) await undefined;
      }
    } finally {
      this.#running = false;
    }
  }
}

/** The process-wide reactor. */
export const reactor: Reactor = new Reactor();

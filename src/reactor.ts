/**
 * The reactor: waits on every descriptor this process serves without blocking
 * the JS thread, and runs each ready descriptor's handler on the JS thread.
 *
 * The descriptors are kept in the kernel's set (`ffi/poller.ts`: epoll on
 * Linux); a watch changing what it waits for is one `epoll_ctl`, which does
 * not wake the waiting thread, and a wait hands back only the ready
 * descriptors. So neither the cost of an event nor that of a change of
 * interest grows with the number of sessions held. No timers, no busy loop:
 * an idle server sleeps in `epoll_wait`. When no watch waits for anything the
 * loop ends and the process may exit.
 *
 * @module
 */

import process from "node:process";
import { native } from "./_native.ts";
import { EpollPoller, type Poller } from "../ffi/poller.ts";
import { EEXIST, POLLERR, POLLHUP, POLLNVAL } from "../ffi/platform.ts";

/** Microtask turns the loop yields after dispatching, before it waits again. */
const SETTLE_TURNS = 16;

/** Always reported, whatever a watch waits for (as poll() does). */
const FAILURES = POLLERR | POLLHUP | POLLNVAL;

/** Reacts to readiness of one descriptor (poll()'s bits: `POLLIN`, `POLLOUT`, `POLLERR`, `POLLHUP`, `POLLNVAL`). */
export type ReadyHandler = (revents: number) => void;

/** A descriptor registered with the reactor. */
export class Watch {
  readonly fd: number;
  /** This watch's number in the poller's results: never reused, unlike `fd`. */
  readonly key: number;
  readonly onReady: ReadyHandler;
  /** The events asked for; 0 pauses the watch. */
  events: number;
  /** Whether the poller watches `fd` for this watch (false while paused, or once closed). */
  registered = false;
  /**
   * Set when the poller refused the descriptor (closed, or a kind epoll
   * cannot watch such as a regular file): `POLLNVAL` is reported at every
   * turn, as poll() reports a bad descriptor, until the watch pauses or closes.
   */
  refused = false;
  closed = false;

  constructor(fd: number, key: number, onReady: ReadyHandler) {
    this.fd = fd;
    this.key = key;
    this.onReady = onReady;
    this.events = 0;
  }

  /** Changes the events asked for (0 pauses the watch). */
  setEvents(events: number): void {
    if (this.closed || events === this.events) return;
    this.events = events;
    reactor.update(this);
  }

  /**
   * Stops watching. Idempotent. Call it before closing the descriptor: epoll
   * drops a closed descriptor from its set without reporting anything (poll()
   * said POLLNVAL), so a watch whose descriptor someone else closes is never
   * called again.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.events = 0;
    reactor.update(this);
    reactor.forget(this);
  }
}

/** Reports an error thrown by a ready handler (which should not throw). */
export type ReactorErrorSink = (error: unknown) => void;

class Reactor {
  /** Every open watch, by key: how results are matched to watches. */
  readonly #watches = new Map<number, Watch>();
  /** The registered watch of each descriptor number (to notice a number reused after a close). */
  readonly #byFd = new Map<number, Watch>();
  /** Watches the poller refused, reported at every turn. */
  readonly #refused = new Set<Watch>();
  #poller: Poller | undefined;
  #nextKey = 1;
  /** Watches waiting for something (registered or refused): the loop runs while there are any. */
  #active = 0;
  #running = false;
  #waiting = false;
  onError: ReactorErrorSink = (error) => console.error("libssh reactor:", error);

  watch(fd: number, events: number, onReady: ReadyHandler): Watch {
    const watch = new Watch(fd, this.#nextKey++, onReady);
    this.#watches.set(watch.key, watch);
    watch.setEvents(events);
    return watch;
  }

  forget(watch: Watch): void {
    this.#watches.delete(watch.key);
  }

  /** Brings the poller's set in line with `watch.events`. */
  update(watch: Watch): void {
    const poller = this.#poller ??= this.#createPoller();
    const events = watch.events;
    if (events === 0) {
      this.#deactivate(watch, poller);
    } else if (watch.refused) {
      // Stays reported at every turn.
    } else if (watch.registered) {
      const errno = poller.modify(watch.fd, watch.key, events);
      if (errno !== 0) this.#refuse(watch); // closed behind our back: report it, as poll() would
    } else {
      this.#register(watch, poller);
    }
    if (this.#active === 0) {
      if (this.#waiting) this.#poller.wake(); // nothing left to wait for: let the loop end
    } else if (!this.#running) {
      void this.#run(poller);
    }
  }

  #createPoller(): Poller {
    const poller = new EpollPoller(native());
    // Node joins its thread pool when the process exits, and one of its threads waits in
    // epoll_wait for as long as a server listens: process.exit() would never return. Deno exits
    // without waiting for it, and must not have the call complete while it tears down.
    if (!("Deno" in globalThis)) process.once("exit", () => poller.wake());
    return poller;
  }

  #register(watch: Watch, poller: Poller): void {
    const errno = poller.add(watch.fd, watch.key, watch.events);
    if (errno === EEXIST) {
      // Two watches on one open descriptor: a bug in the caller, not something to paper over.
      this.onError(new Error(`descriptor ${watch.fd} is already watched`));
      return;
    }
    if (errno !== 0) {
      this.#refuse(watch);
      return;
    }
    const previous = this.#byFd.get(watch.fd);
    if (previous && previous !== watch) {
      // The number came back from the kernel, so the previous holder's descriptor was closed
      // (which took it out of the kernel's set) before its watch was: it must not remove ours.
      previous.registered = false;
      this.#active--;
    }
    this.#byFd.set(watch.fd, watch);
    watch.registered = true;
    this.#active++;
  }

  /** The poller refused the descriptor: report `POLLNVAL` at every turn, as poll() would. */
  #refuse(watch: Watch): void {
    if (watch.registered) this.#unregister(watch);
    watch.refused = true;
    this.#refused.add(watch);
    this.#active++;
  }

  #deactivate(watch: Watch, poller: Poller): void {
    if (watch.registered) {
      poller.remove(watch.fd);
      this.#unregister(watch);
    } else if (watch.refused) {
      watch.refused = false;
      this.#refused.delete(watch);
      this.#active--;
    }
  }

  #unregister(watch: Watch): void {
    if (this.#byFd.get(watch.fd) === watch) this.#byFd.delete(watch.fd);
    watch.registered = false;
    this.#active--;
  }

  #dispatch(watch: Watch, revents: number): void {
    try {
      watch.onReady(revents);
    } catch (error) {
      this.onError(error);
    }
  }

  async #run(poller: Poller): Promise<void> {
    this.#running = true;
    try {
      while (this.#active > 0) {
        // Always through the worker thread, which also lets the event loop run: polling on the
        // JS thread first saved hand-offs under load, but starved the rest of the process.
        this.#waiting = true;
        let ready: number;
        try {
          ready = await poller.wait(this.#refused.size > 0 ? 0 : -1);
        } finally {
          this.#waiting = false;
        }
        for (let i = 0; i < ready; i++) {
          // Looked up now: a handler before may have closed or paused it, and a result may be
          // from before a watch closed and its descriptor number went to a new one (new key).
          const watch = this.#watches.get(poller.readyKey(i));
          if (!watch) continue;
          const revents = poller.readyEvents(i) & (watch.events | FAILURES);
          if (revents !== 0 && watch.events !== 0) this.#dispatch(watch, revents);
        }
        for (const watch of this.#refused) {
          if (watch.refused && watch.events !== 0) {
            this.#dispatch(watch, POLLNVAL);
          }
        }
        // The handlers' promise continuations usually change what to wait for (a stream reads
        // again, a write finished): let them run before waiting again.
        for (let turn = 0; turn < SETTLE_TURNS; turn++) await undefined;
      }
    } catch (error) {
      this.onError(error);
    } finally {
      this.#running = false;
    }
  }
}

/** The process-wide reactor. */
export const reactor: Reactor = new Reactor();

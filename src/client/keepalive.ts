/**
 * Client keepalive: a request the server must answer whenever the
 * connection was quiet for `interval`, and the session ended with `timeout`
 * once nothing arrived for `interval × countMax`.
 *
 * libssh has one slot for global requests and `ssh_send_keepalive` hides its
 * result, so it is called twice: the first call collects the answer of the
 * previous keepalive (freeing the slot), the second sends a new one. A
 * `tcpip-forward` then drains the slot first (see `forwarding.ts`), and no
 * keepalive is sent while one is queued or in flight.
 *
 * @module
 */

import { SshError } from "../errors.ts";
import type { ClientCore } from "./client_core.ts";

/** Keepalive settings (`ClientOptions.keepalive`). */
export interface KeepaliveOptions {
  /** Milliseconds of silence from the server after which a keepalive is sent. */
  interval: number;
  /** Intervals without any answer after which the session ends with `timeout`. Default 3. */
  countMax?: number;
}

/** Checks keepalive settings; returns them with the default filled in. */
export function checkKeepalive(options: KeepaliveOptions): Required<KeepaliveOptions> {
  if (typeof options !== "object" || options === null) throw new TypeError("keepalive must be an object");
  const { interval, countMax = 3 } = options;
  if (!Number.isFinite(interval) || interval < 1) {
    throw new RangeError("keepalive.interval must be a positive number of ms");
  }
  if (!Number.isInteger(countMax) || countMax < 1) {
    throw new RangeError("keepalive.countMax must be a positive integer");
  }
  return { interval, countMax };
}

/** Sends keepalives on `core` until its connection ends. */
export function startKeepalive(core: ClientCore, options: Required<KeepaliveOptions>): void {
  const { interval, countMax } = options;
  let lastSent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = (): void => {
    timer = undefined;
    if (core.disconnected) return;
    const now = Date.now();
    const quiet = now - core.lastReceived;
    if (quiet >= interval * countMax) {
      core.markDisconnected(
        new SshError("timeout", `the server did not answer for ${quiet} ms (keepalive every ${interval} ms)`),
      );
      return;
    }
    if (now - Math.max(core.lastReceived, lastSent) >= interval && !core.globalRequests.locked) {
      const { libssh } = core.backend;
      core.call(() => {
        libssh.ssh_send_keepalive(core.handle);
        libssh.ssh_send_keepalive(core.handle);
      });
      core.keepaliveSent = true;
      core.updateInterest();
      lastSent = now;
    }
    const next = Math.min(
      Math.max(core.lastReceived, lastSent) + interval,
      core.lastReceived + interval * countMax,
    );
    timer = setTimeout(tick, Math.max(50, next - now));
  };
  timer = setTimeout(tick, interval);
  core.onEnd(() => clearTimeout(timer));
}

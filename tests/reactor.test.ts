import { test } from "node:test";
import assert from "node:assert/strict";
import { native } from "../ffi/load.ts";
import { demoLibc } from "../ffi/demo/libc.ts";
import { EpollPoller } from "../ffi/poller.ts";
import { POLLIN, POLLNVAL, POLLOUT } from "../ffi/platform.ts";
import { reactor } from "../src/reactor.ts";

// The reactor and its poller, on plain pipes: what the sessions rely on.

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

function pipe(): { read: number; write: number } {
  const fds = new Int32Array(2);
  assert.equal(demoLibc(native()).pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  return { read: fds[0], write: fds[1] };
}

const byte = new Uint8Array([1]);
const sink = new Uint8Array(64);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the first revents a handler sees, or "timeout". */
function nextReady(handlers: ((revents: number) => void)[], ms: number): Promise<number | "timeout"> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), ms);
    handlers.push((revents) => {
      clearTimeout(timer);
      resolve(revents);
    });
  });
}

test("changing interest does not wake a wait in progress; a ready descriptor does, and wake() does", async () => {
  const { libc } = native();
  const poller = new EpollPoller(native());
  const a = pipe(), b = pipe();
  try {
    assert.equal(poller.add(a.read, 1, POLLIN), 0);
    let settled = false;
    const waiting = poller.wait(-1).then((count) => {
      settled = true;
      return count;
    });
    await sleep(50);
    // Interest changes from this thread, none of them ready: the waiting thread must sleep on.
    assert.equal(poller.modify(a.read, 1, POLLIN | POLLOUT), 0);
    assert.equal(poller.add(b.read, 2, POLLIN), 0);
    poller.remove(b.read);
    assert.equal(poller.add(b.read, 3, POLLIN), 0);
    await sleep(300);
    assert.equal(settled, false, "an interest change woke the waiting thread");
    // A descriptor that becomes ready wakes it, and only that one is handed back, under its key.
    libc.write(b.write, byte, 1);
    assert.equal(await waiting, 1);
    assert.equal(poller.readyKey(0), 3);
    assert.equal(poller.readyEvents(0), POLLIN);
    libc.read(b.read, sink, sink.length);
    // wake() ends a wait without reporting anything real.
    const woken = poller.wait(-1);
    poller.wake();
    const count = await woken;
    for (let i = 0; i < count; i++) assert.equal(poller.readyEvents(i), 0);
  } finally {
    for (const fd of [a.read, a.write, b.read, b.write]) libc.close(fd);
  }
});

test("a descriptor number reused after a close without removal goes to the new watch only", async () => {
  const { libc } = native();
  const oldHandlers: ((revents: number) => void)[] = [];
  const newHandlers: ((revents: number) => void)[] = [];
  const first = pipe();
  const oldWatch = reactor.watch(first.read, POLLIN, (revents) => oldHandlers.shift()?.(revents));
  // As libssh does when a connection fails: the descriptor is closed while still watched.
  libc.close(first.read);
  libc.close(first.write);
  // The kernel hands out the lowest free number: the next pipe gets the old one back
  // (other threads of the runtime may take it first; then try again).
  const spares: number[] = [];
  let second = pipe();
  while (second.read !== first.read && spares.length < 64) {
    spares.push(second.read, second.write);
    second = pipe();
  }
  for (const fd of spares) libc.close(fd);
  assert.equal(second.read, first.read, "the descriptor number came back");
  const newWatch = reactor.watch(second.read, POLLIN, (revents) => {
    libc.read(second.read, sink, sink.length);
    newHandlers.shift()?.(revents);
  });
  try {
    const oldFired = nextReady(oldHandlers, 400);
    const newFired = nextReady(newHandlers, 5000);
    libc.write(second.write, byte, 1);
    assert.equal(await newFired, POLLIN);
    assert.equal(await oldFired, "timeout", "the old watch saw the new descriptor's events");
    // Closing the old watch now must not take the new descriptor out of the set.
    oldWatch.close();
    const again = nextReady(newHandlers, 5000);
    libc.write(second.write, byte, 1);
    assert.equal(await again, POLLIN);
  } finally {
    oldWatch.close();
    newWatch.close();
    libc.close(second.read);
    libc.close(second.write);
  }
});

test("a watch closed or paused while a wait is in flight gets nothing more", async () => {
  const { libc } = native();
  const p = pipe();
  let calls = 0;
  const watch = reactor.watch(p.read, POLLIN, () => calls++);
  try {
    await sleep(20); // the loop is waiting on the worker thread now
    // Ready and paused in the same turn: the wait returns with it, and the result is dropped.
    libc.write(p.write, byte, 1);
    watch.setEvents(0);
    await sleep(200);
    assert.equal(calls, 0, "a paused watch was called");
    watch.setEvents(POLLIN);
    const resumed = Date.now();
    while (calls === 0 && Date.now() - resumed < 5000) await sleep(10);
    assert.ok(calls > 0, "resuming a watch that is ready reports it");
    watch.close();
    const closedAt = calls;
    await sleep(200);
    assert.equal(calls, closedAt, "a closed watch was called");
  } finally {
    watch.close();
    libc.close(p.read);
    libc.close(p.write);
  }
});

test("a descriptor epoll refuses is reported POLLNVAL, as poll() reports a bad one", async () => {
  const seen: number[] = [];
  const bad = reactor.watch(1_000_000, POLLIN, (revents) => seen.push(revents));
  try {
    const started = Date.now();
    while (seen.length === 0 && Date.now() - started < 5000) await sleep(10);
    assert.equal(seen[0], POLLNVAL);
    bad.setEvents(0);
    const paused = seen.length;
    await sleep(100);
    assert.ok(seen.length <= paused + 1, "a paused refused watch is still reported");
  } finally {
    bad.close();
  }
});

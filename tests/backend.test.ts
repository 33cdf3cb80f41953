import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { native } from "../ffi/load.ts";
import { cString } from "../ffi/cstring.ts";
import { demoLibc } from "../ffi/demo/libc.ts";
import { demoLibcSymbols } from "../ffi/demo/symbols.ts";
import { EFD_CLOEXEC, EFD_NONBLOCK, EPOLL_CLOEXEC, EPOLL_CTL_ADD, POLLIN, POLLOUT } from "../ffi/platform.ts";
import { epollEventLayout, POLLFD_BYTES } from "../ffi/structs.ts";
import { libcSymbols } from "../ffi/symbols.ts";

// The same assertions run under Deno (Deno.dlopen) and Node (koffi): the two
// backends must be indistinguishable to src/.

test("the backend is this runtime's and reads memory like the other one", () => {
  const backend = native();
  assert.equal(backend.runtime, "Deno" in globalThis ? "deno" : "node");
  assert.match(backend.readCString(backend.libssh.ssh_version(0)) ?? "", /^0\.\d+\.\d+/);

  const text = cString("héllo");
  const pointer = backend.pointerOf(text);
  assert.notEqual(pointer, null);
  assert.equal(backend.readCString(pointer), "héllo");
  assert.deepEqual(backend.readBytes(pointer, 3), new Uint8Array([0x68, 0xc3, 0xa9]));
  assert.deepEqual(backend.readBytes(pointer, 0), new Uint8Array(0));
  const copy = backend.readBytes(pointer, 1);
  text[0] = 0x4a;
  assert.equal(copy[0], 0x68, "readBytes copies");
  assert.equal(backend.readCString(pointer), "Jéllo", "pointerOf is the buffer's own memory");

  const address = backend.address(pointer);
  assert.equal(typeof address, "bigint");
  assert.ok(address > 0n);
  assert.equal(backend.readCString(backend.pointerAt(address)), "Jéllo");
  assert.equal(backend.address(backend.pointerOf(text.subarray(1))), address + 1n);
  assert.equal(backend.address(backend.pointerAt(address + 2n)), address + 2n);
  assert.equal(backend.pointerAt(0n), null);
  assert.equal(backend.address(null), 0n);
  assert.equal(backend.readCString(null), null);
});

test("C results keep their types; nonblocking calls return Promises and write into the buffer", async () => {
  const { libc } = native();
  assert.equal(libc.close(-1), -1);
  const fd = libc.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  assert.ok(fd >= 0);
  try {
    assert.equal(Number(libc.read(fd, new BigUint64Array(1), 8)), -1, "an empty eventfd does not block");
    const epollFd = libc.epoll_create1(EPOLL_CLOEXEC);
    assert.ok(epollFd >= 0);
    try {
      const { bytes, data } = epollEventLayout(native().arch);
      const request = new Uint8Array(bytes);
      const requestView = new DataView(request.buffer);
      requestView.setUint32(0, POLLIN, true);
      requestView.setUint32(data, 42, true);
      assert.equal(libc.epoll_ctl(epollFd, EPOLL_CTL_ADD, fd, request), 0);
      const ready = new Uint8Array(bytes * 4);
      const readyView = new DataView(ready.buffer);
      const idle = libc.epoll_wait(epollFd, ready, 4, 0);
      assert.ok(idle instanceof Promise);
      assert.equal(await idle, 0);
      const waiting = libc.epoll_wait(epollFd, ready, 4, 10_000);
      assert.equal(Number(libc.write(fd, new BigUint64Array([1n]), 8)), 8);
      assert.equal(await waiting, 1);
      assert.equal(readyView.getUint32(0, true), POLLIN, "events written by the worker thread");
      assert.equal(readyView.getUint32(data, true), 42, "data at the layout's offset");
    } finally {
      libc.close(epollFd);
    }
  } finally {
    libc.close(fd);
  }
});

test("the DemoServer's C functions are a table of their own, which the library's native() does not bind", () => {
  const backend = native();
  for (const name of Object.keys(demoLibcSymbols)) {
    assert.ok(!(name in libcSymbols), `${name} is in both tables`);
    assert.ok(!(name in backend.libc), `native() binds ${name}`);
  }
  const demo = demoLibc(backend);
  assert.equal(demoLibc(backend), demo, "bound once per process");
  for (const [name, entry] of Object.entries(demoLibcSymbols)) {
    const binding = demo[name as keyof typeof demo];
    if ("optional" in entry && binding === null) continue;
    assert.equal(typeof binding, "function", name);
  }
});

test("the DemoServer's table calls C like the library's (a pipe, poll on it, a signal 0)", () => {
  const backend = native();
  const demo = demoLibc(backend);
  const fds = new Int32Array(2);
  assert.equal(demo.pipe2(fds, 0), 0);
  try {
    const pollfd = new Uint8Array(POLLFD_BYTES);
    const view = new DataView(pollfd.buffer);
    view.setInt32(0, fds[1], true);
    view.setInt16(4, POLLOUT, true);
    assert.equal(demo.poll_now(pollfd, 1n, 0), 1, "an empty pipe is writable");
    assert.equal(view.getInt16(6, true), POLLOUT);
    assert.equal(Number(backend.libc.write(fds[1], new Uint8Array([7]), 1)), 1);
    const byte = new Uint8Array(1);
    assert.equal(Number(backend.libc.read(fds[0], byte, 1)), 1);
    assert.equal(byte[0], 7);
  } finally {
    backend.libc.close(fds[0]);
    backend.libc.close(fds[1]);
  }
  assert.equal(demo.kill(process.pid, 0), 0, "this process exists");
});

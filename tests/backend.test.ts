import { test } from "node:test";
import assert from "node:assert/strict";
import { native } from "../ffi/load.ts";
import { cString } from "../ffi/cstring.ts";
import { EFD_CLOEXEC, EFD_NONBLOCK, EPOLL_CLOEXEC, EPOLL_CTL_ADD, POLLIN } from "../ffi/platform.ts";
import { epollEventLayout } from "../ffi/structs.ts";

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

import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { SftpClient, SshError } from "../mod.ts";
import {
  FakeSftpServer,
  OPENSSH_EXTENSIONS,
  packet,
  type ReceivedRequest,
  statusPacket,
  versionPacket,
} from "./support/fake_sftp_server.ts";

// The protocol edge cases, against a fake server in this process that answers byte for byte what
// each test says: ids matched out of order, back-pressure, and every kind of bad packet.

const STAT = 17;
const READ = 5;
const OPEN = 3;
const STATUS = 101;
const HANDLE = 102;
const DATA = 103;
const NAME = 104;
const ATTRS = 105;

/** A client over `server`, which answers INIT with OpenSSH's extensions unless told otherwise. */
async function connect(server: FakeSftpServer, options = {}): Promise<SftpClient> {
  return await SftpClient.over(server.transport, options);
}

/** Asserts `promise` rejects with SshError `code` (and `status`), its message matching `pattern`. */
async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  status: string | undefined,
  pattern?: RegExp,
): Promise<SshError> {
  let caught: SshError | undefined;
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SshError, String(error));
    assert.equal(error.code, code, error.message);
    assert.equal(error.status, status, error.message);
    if (pattern) assert.match(error.message, pattern);
    caught = error;
    return true;
  });
  return caught!;
}

/** Answers every request with what `answer` gives (after the handshake). */
function answering(
  server: FakeSftpServer,
  answer: (request: ReceivedRequest) => Uint8Array | undefined,
): void {
  server.onRequest = (request) => {
    const bytes = request.type === 1 ? versionPacket() : answer(request);
    if (bytes) server.send(bytes);
  };
}

test("answers are matched by id: 50 stats in flight, answered in reverse order", async () => {
  const server = new FakeSftpServer();
  const stats: ReceivedRequest[] = [];
  server.onRequest = (request) => {
    if (request.type === 1) return server.send(versionPacket());
    stats.push(request);
    if (stats.length < 50) return;
    for (const { id, body } of stats.reverse()) {
      const size = Number(new TextDecoder().decode(body.subarray(4)).slice(1)); // the path is "/N"
      server.send(packet(ATTRS, { u32: id! }, { u32: 0x1 }, { u64: BigInt(size) }));
    }
  };
  await using sftp = await connect(server);
  const sizes = await Promise.all(
    Array.from({ length: 50 }, (_, i) => sftp.stat(`/${i}`).then((s) => s.size)),
  );
  assert.deepEqual(sizes, Array.from({ length: 50 }, (_, i) => i));
  assert.equal(new Set(stats.map((s) => s.id)).size, 50);
  assert.equal(sftp.pendingRequests, 0);
});

test("an oversized packet ends the session with sftp/bad-message, before anything is allocated for it", async () => {
  const server = new FakeSftpServer();
  answering(server, (request) => {
    if (request.type !== STAT) return undefined;
    // A length of almost 4 GiB, then a few bytes: allocating it first would take the memory or throw RangeError.
    return new Uint8Array([0xff, 0xff, 0xff, 0xf0, DATA, 0, 0, 0, 0]);
  });
  const sftp = await connect(server);
  const other = sftp.realpath("/never-answered");
  const error = await rejectsWith(
    sftp.stat("/x"),
    "sftp",
    "bad-message",
    /4294967280 bytes.*maxPacketLength/,
  );
  assert.equal(await other.catch((e) => e), error, "every waiting request gets the same error");
  assert.equal(sftp.isOpen, false);
  assert.equal(sftp.pendingRequests, 0);
  assert.equal(server.closeCalls, 1);
  await rejectsWith(sftp.stat("/y"), "closed", undefined, /malformed packet/);
  await sftp.close();
  assert.equal(server.closeCalls, 1);
});

test("maxPacketLength bounds what is accepted, and reads never ask for more than fits", async () => {
  const server = new FakeSftpServer();
  const reads: number[] = [];
  answering(server, (request) => {
    const view = new DataView(request.body.buffer, request.body.byteOffset);
    if (request.type === OPEN) return packet(HANDLE, { u32: request.id! }, "h");
    if (request.type === READ) {
      const length = view.getUint32(4 + 1 + 8); // handle "h", then the offset
      reads.push(length);
      return reads.length === 1
        ? packet(DATA, { u32: request.id! }, new Uint8Array(length))
        : packet(DATA, { u32: request.id! }, new Uint8Array(5000)); // more than the 4096 allowed
    }
    return statusPacket(request.id!, 0);
  });
  await using sftp = await connect(server, { maxPacketLength: 4096 });
  const file = await sftp.open("/f");
  assert.equal((await file.read(4096 - 9, 0)).length, 4096 - 9);
  await rejectsWith(file.read(100_000, 0), "sftp", "bad-message", /5009 bytes, over the limit of 4096/);
  assert.ok(reads.every((length) => length <= 4096 - 9), `read lengths ${reads}`);
  await assert.rejects(SftpClient.over(new FakeSftpServer().transport, { maxPacketLength: 10 }), RangeError);
});

test("a read answered with more bytes than asked ends the session", async () => {
  const server = new FakeSftpServer();
  answering(
    server,
    (request) =>
      request.type === OPEN
        ? packet(HANDLE, { u32: request.id! }, "h")
        : packet(DATA, { u32: request.id! }, new Uint8Array(200)),
  );
  await using sftp = await connect(server);
  const file = await sftp.open("/f");
  await rejectsWith(file.read(100, 0), "sftp", "bad-message", /200 bytes for a read of 100/);
  assert.equal(sftp.isOpen, false);
});

test("a read's data split across transport chunks, even inside its first fields, arrives whole and in order", async () => {
  const content = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) % 251);
  // Chunk sizes the answer is cut into: through the length, the type, the id, the data length, the data.
  for (const cuts of [[2, 3], [5, 4], [9, 1], [13, 100], [14, 1000, 1], [7, 7, 7, 7, 7]]) {
    const server = new FakeSftpServer();
    server.onRequest = (request) => {
      if (request.type === 1) return server.send(versionPacket());
      if (request.type === OPEN) return server.send(packet(HANDLE, { u32: request.id! }, "h"));
      const view = new DataView(request.body.buffer, request.body.byteOffset);
      const offset = Number(view.getBigUint64(4 + 1)); // after the handle "h"
      const length = view.getUint32(4 + 1 + 8);
      const bytes = packet(DATA, { u32: request.id! }, content.subarray(offset, offset + length));
      let at = 0;
      for (const cut of cuts) {
        server.send(bytes.slice(at, at + cut));
        at += cut;
      }
      server.send(bytes.slice(at));
    };
    await using sftp = await connect(server);
    const file = await sftp.open("/f");
    assert.deepEqual(await file.read(content.length, 0), content, `cut ${cuts}`);
    const pieces: Uint8Array[] = [];
    for await (const piece of file.readable({ end: content.length, chunkSize: 1000 })) pieces.push(piece);
    assert.deepEqual(new Uint8Array(pieces.flatMap((piece) => [...piece])), content, `cut ${cuts}`);
  }
});

test("a split read whose data length runs past its packet ends the session", async () => {
  const server = new FakeSftpServer();
  server.onRequest = (request) => {
    if (request.type === 1) return server.send(versionPacket());
    if (request.type === OPEN) return server.send(packet(HANDLE, { u32: request.id! }, "h"));
    const lying = packet(DATA, { u32: request.id! }, { u32: 90 }, { u32: 0 }, { u32: 0 });
    server.send(lying.subarray(0, 10));
    server.send(lying.subarray(10));
  };
  await using sftp = await connect(server);
  const file = await sftp.open("/f");
  await rejectsWith(file.read(100, 0), "sftp", "bad-message", /data runs past the end of the packet/);
  assert.equal(sftp.isOpen, false);
});

test("malformed packets end the session with sftp/bad-message naming the problem", async () => {
  const cases: [string, (request: ReceivedRequest) => Uint8Array, RegExp][] = [
    ["a packet of length 0", () => new Uint8Array(4), /length 0/],
    ["a response to no request", (r) => statusPacket(r.id! + 1000, 0), /to no request \(id \d+\)/],
    ["a response of the wrong type", (r) => packet(HANDLE, { u32: r.id! }, "h"), /type 102 to stat/],
    [
      "a field past the packet's end",
      (r) => packet(ATTRS, { u32: r.id! }, { u32: 0x1 }, { u32: 7 }),
      /size runs past/,
    ],
    ["a status without its code", (r) => packet(STATUS, { u32: r.id! }), /status code runs past/],
    ["a packet too short for an id", () => packet(ATTRS, { u8: 1 }), /request id runs past/],
    [
      "a name count that lies",
      (r) => packet(NAME, { u32: r.id! }, { u32: 1e9 }, "a", "b", { u32: 0 }),
      /runs past/,
    ],
    [
      "a string length that lies",
      (r) => packet(STATUS, { u32: r.id! }, { u32: 2 }, { u32: 1e9 }),
      /runs past/,
    ],
    [
      "extended attributes that lie",
      (r) => packet(ATTRS, { u32: r.id! }, { u32: 0x80000000 }, { u32: 5 }),
      /runs past/,
    ],
    [
      "a size above 2^53",
      (r) => packet(ATTRS, { u32: r.id! }, { u32: 0x1 }, { u64: 1n << 60n }),
      /too large/,
    ],
  ];
  for (const [name, answer, pattern] of cases) {
    const server = new FakeSftpServer();
    answering(server, answer);
    const sftp = await connect(server);
    // A NAME is the answer to realpath, so the lying count goes to one; the other cases fail any request.
    const request = name === "a name count that lies" ? sftp.realpath("/x") : sftp.stat("/x");
    const error = await rejectsWith(request, "sftp", "bad-message", pattern);
    assert.match(error.message, /^malformed packet from the SFTP server/, name);
    assert.equal(sftp.isOpen, false, name);
    assert.equal(server.closeCalls, 1, name);
  }
});

test("the handshake: another version, another packet first, a server that leaves, or none that answers", async () => {
  let server = new FakeSftpServer();
  server.onRequest = () => server.send(versionPacket(OPENSSH_EXTENSIONS, 6));
  await rejectsWith(connect(server), "sftp", "op-unsupported", /speaks version 6; this client speaks 3/);
  assert.equal(server.closeCalls, 1);

  server = new FakeSftpServer();
  server.onRequest = () => server.send(statusPacket(0, 0));
  await rejectsWith(connect(server), "sftp", "bad-message", /type 101 instead of the version/);

  server = new FakeSftpServer();
  server.onRequest = () => server.end();
  await rejectsWith(connect(server), "sftp", "connection-lost", /ended the session$/);

  server = new FakeSftpServer();
  server.onRequest = () => {};
  const controller = new AbortController();
  const connecting = connect(server, { signal: controller.signal });
  await delay(20);
  controller.abort();
  await rejectsWith(connecting, "aborted", undefined);
  assert.equal(server.closeCalls, 1);
  await rejectsWith(connect(new FakeSftpServer(), { signal: AbortSignal.abort() }), "aborted", undefined);

  // Extensions: what the server announced, and nothing it did not.
  server = new FakeSftpServer();
  server.onRequest = () => server.send(versionPacket([["statvfs@openssh.com", "2"]]));
  await using sftp = await connect(server);
  assert.deepEqual([...sftp.extensions], [["statvfs@openssh.com", "2"]]);
  const before = server.received.length;
  await rejectsWith(sftp.rename("/a", "/b", { overwrite: true }), "sftp", "op-unsupported", /posix-rename/);
  await rejectsWith(sftp.link("/a", "/b"), "sftp", "op-unsupported", /hardlink@openssh.com/);
  await rejectsWith(sftp.limits(), "sftp", "op-unsupported", /limits@openssh.com/);
  assert.equal(server.received.length, before, "nothing was sent for them");
});

test("the server leaving ends every waiting request with sftp/connection-lost", async () => {
  const server = new FakeSftpServer();
  answering(server, (request) => {
    if (request.id !== 2) return undefined;
    server.send(packet(ATTRS, { u32: 1 }, { u32: 0 }).subarray(0, 7)); // half of an answer to request 1
    server.end();
    return undefined;
  });
  const sftp = await connect(server);
  const waiting = [sftp.stat("/a"), sftp.stat("/b"), sftp.stat("/c")];
  for (const request of waiting) {
    await rejectsWith(request, "sftp", "connection-lost", /ended the session in the middle of a packet/);
  }
  assert.equal(sftp.pendingRequests, 0);
  assert.equal(server.closeCalls, 1);
});

test("close() rejects every waiting request with closed; later calls throw closed", async () => {
  const server = new FakeSftpServer();
  answering(
    server,
    (request) => request.type === OPEN ? packet(HANDLE, { u32: request.id! }, "h") : undefined,
  );
  const sftp = await connect(server);
  const file = await sftp.open("/f");
  const waiting = [sftp.stat("/a"), sftp.readdir("/d"), sftp.readFile("/f"), file.read(10, 0), file.stat()];
  await delay(10);
  assert.ok(sftp.pendingRequests >= 4);
  await sftp.close();
  for (const request of waiting) await rejectsWith(request, "closed", undefined);
  assert.equal(sftp.pendingRequests, 0);
  assert.equal(server.closeCalls, 1);
  await rejectsWith(sftp.stat("/a"), "closed", undefined);
  await rejectsWith(file.read(1, 0), "closed", undefined);
});

test("a status message is optional; codes of later protocol versions count as failure", async () => {
  const server = new FakeSftpServer();
  answering(server, (request) =>
    request.body.at(-1) === 0x31 // "/1"
      ? packet(STATUS, { u32: request.id! }, { u32: 3 })
      : statusPacket(request.id!, 11, "File already exists"));
  await using sftp = await connect(server);
  await rejectsWith(sftp.unlink("/1"), "sftp", "permission-denied", /^unlink \/1: permission denied$/);
  await rejectsWith(sftp.unlink("/2"), "sftp", "failure", /^unlink \/2: File already exists \(status 11\)$/);
  assert.ok(sftp.isOpen);
});

test("back-pressure: while the transport takes nothing, requests wait here, and leave in order", async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  const written: Uint8Array[] = [];
  const writable = new WritableStream<Uint8Array>({
    write: async (chunk) => {
      written.push(chunk);
      if (written.length > 1) await gate; // the handshake passes, then the transport stalls
      server.receive(chunk);
    },
  }, { highWaterMark: 1 });
  const server = new FakeSftpServer({ writable }); // the sink above runs after this line
  answering(server, (request) => packet(ATTRS, { u32: request.id! }, { u32: 0 }));
  await using sftp = await connect(server);
  const results = Array.from({ length: 100 }, (_, i) => sftp.stat(`/${i}`));
  await delay(50);
  assert.ok(written.length <= 3, `${written.length} chunks handed to a stalled transport`);
  assert.equal(sftp.pendingRequests, 100);
  open();
  await Promise.all(results);
  const paths = server.received.filter((r) => r.type === STAT).map((r) =>
    new TextDecoder().decode(r.body.subarray(4))
  );
  assert.deepEqual(paths, Array.from({ length: 100 }, (_, i) => `/${i}`));
});

test("a transport with a high-water mark of 0 is written one packet at a time, each once the last was taken", async () => {
  let taking = 0;
  let most = 0;
  const writable = new WritableStream<Uint8Array>({
    write: async (chunk) => {
      most = Math.max(most, ++taking);
      await delay(1);
      server.receive(chunk);
      taking--;
    },
  }, { highWaterMark: 0 });
  const server = new FakeSftpServer({ writable }); // the sink above runs after this line
  answering(server, (request) => packet(ATTRS, { u32: request.id! }, { u32: 0 }));
  await using sftp = await connect(server);
  await Promise.all(Array.from({ length: 20 }, (_, i) => sftp.stat(`/${i}`)));
  assert.equal(most, 1);
});

test("a transport that fails ends every waiting request with sftp/connection-lost", async () => {
  let writes = 0;
  const writable = new WritableStream<Uint8Array>({
    write: (chunk) => {
      if (++writes > 1) throw new Error("broken pipe");
      server.receive(chunk);
    },
  });
  const server = new FakeSftpServer({ writable }); // the sink above runs after this line
  const sftp = await connect(server);
  await rejectsWith(sftp.stat("/a"), "sftp", "connection-lost", /broken pipe/);
  assert.equal(sftp.isOpen, false);
  assert.equal(server.closeCalls, 1);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { SftpClient, SshError } from "../mod.ts";
import {
  FakeSftpServer,
  type Field,
  OPENSSH_EXTENSIONS,
  packet,
  versionPacket,
} from "./support/fake_sftp_server.ts";
import { caseSeed, Random } from "./support/fuzz.ts";

// A fake server answering with random, truncated and lying packets: every call the client makes must
// end in a value or a clean SshError, never a hang, a crash, another error type or a request left
// pending. A failing case is replayed from its seed: SFTP_FUZZ_SEED=<seed> and its index.

const CASES = 1500;
const SEED = Number(process.env.SFTP_FUZZ_SEED ?? 20);
/** A case ends within this many ms once its server stopped (it stops after at most 24 answers). */
const CASE_TIMEOUT_MS = 5_000;

const RESPONSE_TYPES = [101, 102, 103, 104, 105, 201];

/** Random fields for a response of `type`: mostly plausible, sometimes not. */
function fieldsFor(type: number, random: Random): Field[] {
  const text = (): string => random.pick(["", "a", ".", "..", "file", "é", "x".repeat(random.below(300))]);
  const attrs = (): Field[] => {
    const flags = random.chance(0.8) ? random.below(16) : random.u32();
    const fields: Field[] = [{ u32: flags }];
    if (flags & 1) {
      fields.push({ u64: random.chance(0.9) ? BigInt(random.below(1 << 20)) : BigInt(random.u32()) << 32n });
    }
    if (flags & 2) fields.push({ u32: random.u32() }, { u32: random.u32() });
    if (flags & 4) fields.push({ u32: random.pick([0o100644, 0o40755, 0o120777, random.u32()]) });
    if (flags & 8) fields.push({ u32: random.u32() }, { u32: random.u32() });
    if (flags & 0x80000000) {
      const count = random.below(4);
      fields.push({ u32: random.chance(0.9) ? count : random.u32() });
      for (let i = 0; i < count; i++) fields.push(text(), text());
    }
    return fields;
  };
  switch (type) {
    case 101:
      return [
        { u32: random.pick([0, 1, 2, 3, 4, 8, 11, random.u32()]) },
        ...(random.chance(0.7) ? [text(), "en"] : []),
      ];
    case 102:
      return [random.bytes(random.below(40))];
    case 103:
      return [random.bytes(random.pick([0, 1, 100, 4096, 40_000]))];
    case 104: {
      const count = random.below(5);
      const fields: Field[] = [{ u32: random.chance(0.9) ? count : random.u32() }];
      for (let i = 0; i < count; i++) fields.push(text(), text(), ...attrs());
      return fields;
    }
    case 105:
      return attrs();
    default:
      return Array.from({ length: random.below(12) }, () => ({ u64: BigInt(random.u32()) }));
  }
}

/** What the server sends for one request: an answer (often broken), noise, or nothing. */
function answer(id: number, random: Random): Uint8Array[] {
  const kind = random.below(10);
  const type = kind < 7 ? random.pick(RESPONSE_TYPES) : random.below(256);
  const responseId = random.chance(0.9) ? id : random.chance(0.5) ? id + 1 : random.u32();
  let bytes = packet(type, { u32: responseId }, ...fieldsFor(type, random));
  if (random.chance(0.1)) bytes = bytes.subarray(0, random.below(bytes.length)); // truncated
  if (random.chance(0.05)) new DataView(bytes.buffer).setUint32(0, random.u32()); // a lying length
  if (random.chance(0.05)) bytes[4 + random.below(bytes.length - 4 || 1)] ^= 1 << random.below(8); // a bit flip
  if (random.chance(0.05)) return [random.bytes(random.below(64))]; // noise
  if (random.chance(0.05)) return []; // no answer
  // Split at random points: the client must reassemble across chunks.
  const parts: Uint8Array[] = [];
  while (bytes.length > 0) {
    const cut = random.chance(0.7) ? bytes.length : 1 + random.below(bytes.length);
    parts.push(bytes.subarray(0, cut));
    bytes = bytes.subarray(cut);
  }
  return parts;
}

/** The calls a case makes, all at once. */
const CALLS: ((sftp: SftpClient) => Promise<unknown>)[] = [
  (sftp) => sftp.stat("/a"),
  (sftp) => sftp.lstat("/a"),
  (sftp) => sftp.readdir("/d"),
  (sftp) => sftp.realpath("."),
  (sftp) => sftp.readlink("/l"),
  (sftp) => sftp.readFile("/f", { chunkSize: 4096, concurrency: 3 }),
  (sftp) => sftp.writeFile("/w", new Uint8Array(10_000), { chunkSize: 4096 }),
  (sftp) => sftp.mkdir("/m/n/o", { recursive: true }),
  (sftp) => sftp.rename("/a", "/b", { overwrite: true }),
  (sftp) => sftp.statvfs("/"),
  (sftp) => sftp.limits(),
  async (sftp) => {
    const file = await sftp.open("/f", "r+");
    try {
      await file.read(50_000, 0);
      await file.write("data", 10);
      await file.stat();
      await file.sync();
    } finally {
      // Not `await using`: two failures would make a SuppressedError of the two SshErrors.
      await file.close().catch((error) => {
        if (!(error instanceof SshError)) throw error;
      });
    }
  },
];

interface Outcome {
  index: number;
  problem?: string;
}

async function runCase(index: number): Promise<Outcome> {
  const random = new Random(caseSeed(SEED, index));
  const server = new FakeSftpServer();
  const answerLimit = 1 + random.below(24);
  let answered = 0;
  server.onRequest = (request) => {
    if (request.type === 1) {
      const handshake = random.below(10);
      if (handshake < 7) server.send(versionPacket(random.chance(0.5) ? OPENSSH_EXTENSIONS : []));
      else if (handshake === 7) { for (const part of answer(0, random)) server.send(part); }
      else if (handshake === 8) {
        server.send(versionPacket(OPENSSH_EXTENSIONS).subarray(0, 1 + random.below(20)));
      } else server.send(random.bytes(random.below(40)));
    } else {
      for (const part of answer(request.id!, random)) server.send(part);
    }
    if (++answered >= answerLimit || random.chance(0.03)) server.end();
  };
  // A server that stops answering (and never ends) is ended by the signal or the client's close() below.
  const settle = async (): Promise<Outcome> => {
    let sftp: SftpClient;
    try {
      // A server that stops in the middle of its version would hold over() forever: the signal ends it.
      sftp = await SftpClient.over(server.transport, { signal: AbortSignal.timeout(50) });
    } catch (error) {
      if (!(error instanceof SshError)) return { index, problem: `over() threw ${error}` };
      return server.closeCalls === 1
        ? { index }
        : { index, problem: `transport closed ${server.closeCalls} times` };
    }
    const calls = CALLS.filter(() => random.chance(0.6)).map((call) => call(sftp));
    const stopper = delay(20).then(() => sftp.close());
    const results = await Promise.allSettled(calls);
    await stopper;
    for (const result of results) {
      if (result.status !== "rejected") continue;
      const { reason } = result;
      // An SshError caused by a TypeError or RangeError is a fault of the client that it contained.
      if (
        !(reason instanceof SshError) || reason.cause instanceof TypeError ||
        reason.cause instanceof RangeError
      ) {
        return {
          index,
          problem: `a call rejected with ${reason?.stack ?? reason} (cause: ${reason?.cause})`,
        };
      }
    }
    if (sftp.pendingRequests !== 0) {
      return { index, problem: `${sftp.pendingRequests} requests left pending` };
    }
    if (server.closeCalls !== 1) return { index, problem: `transport closed ${server.closeCalls} times` };
    return { index };
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ index, problem: "hung" }), CASE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([settle(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test(`fuzz: ${CASES} fake servers answering with random, truncated and lying packets (seed ${SEED})`, async () => {
  const problems: Outcome[] = [];
  let unhandled: unknown;
  const onUnhandled = (reason: unknown): void => {
    unhandled ??= reason;
  };
  process.on("unhandledRejection", onUnhandled);
  try {
    // Cases run 20 at a time: several sessions interleave, as on a busy process.
    for (let first = 0; first < CASES; first += 20) {
      const outcomes = await Promise.all(
        Array.from({ length: Math.min(20, CASES - first) }, (_, i) => runCase(first + i)),
      );
      problems.push(...outcomes.filter((outcome) => outcome.problem));
      if (problems.length > 5) break;
    }
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
  assert.deepEqual(problems, [], `replay with SFTP_FUZZ_SEED=${SEED} and the case index`);
  assert.equal(unhandled, undefined, `an unhandled rejection: ${unhandled}`);
});

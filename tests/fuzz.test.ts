import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { DemoServer } from "../src/demo/mod.ts";
import { mebibytes, settledCensus, takeCensus } from "./support/census.ts";
import { sshWithPassword } from "./support/clients.ts";
import { clearPackets, clearTextLength, fuzz, fuzzInput, Random } from "./support/fuzz.ts";
import { startHealthyTraffic } from "./support/healthy_traffic.ts";

const HANDSHAKE = new Uint8Array(readFileSync(new URL("./fixtures/ssh2_handshake.bin", import.meta.url)));
/**
 * RSS the measured round may keep: V8 and malloc keep some of what 1,000 connections used, and the
 * DemoServer's timeline and client list keep every entry. Measured: about 25 MiB when this file runs
 * alone, up to 56 MiB late in the whole suite (larger heaps); `deno task stress` gives the per-connection
 * figure over 100,000 connections. A leak of a session's buffers would add far more.
 */
const RSS_SLACK_BYTES = 80 * 1024 * 1024;

test("the recorded handshake is an ssh2 client's, clear up to NEWKEYS; cases replay from their seed", () => {
  assert.match(new TextDecoder().decode(HANDSHAKE.subarray(0, 16)), /^SSH-2\.0-ssh2js/);
  const clear = clearTextLength(HANDSHAKE);
  assert.ok(clear > 100 && clear < HANDSHAKE.length, `clear part: ${clear} of ${HANDSHAKE.length}`);
  const types = clearPackets(HANDSHAKE).map((packet) => packet.type);
  assert.deepEqual([types[0], types.at(-1)], [20, 21], `KEXINIT … NEWKEYS, not ${types}`);
  const once = fuzzInput("mutated-handshake", new Random(42), HANDSHAKE);
  const again = fuzzInput("mutated-handshake", new Random(42), HANDSHAKE);
  assert.deepEqual(again, once);
  assert.notDeepEqual(fuzzInput("mutated-handshake", new Random(43), HANDSHAKE), once);
});

test("1,000 fuzzed connections: the server keeps serving, a concurrent 5 MB transfer stays intact, fds and RSS return", async () => {
  await using ds = await DemoServer.start();
  // The first login and a first round of fuzzing grow what lives as long as the server (reactor
  // thread, poll buffers, the heaps' working size): count after them, so that what the measured
  // round keeps is what it would keep again with every further round.
  const warmUp = await sshWithPassword(ds.port, "foo", "echo warm");
  assert.equal(warmUp.stdout, "warm\n", warmUp.stderr);
  const initial = takeCensus();
  const first = await fuzz({ port: ds.port, cases: 300, concurrency: 16, handshake: HANDSHAKE });
  assert.deepEqual(first.failures, [], `fuzz seed ${first.seed}`);
  const before = await settledCensus((census) => census.fds <= initial.fds);

  const traffic = startHealthyTraffic(ds.port, "foo");
  // Fuzz once the transfer runs, so that they overlap (1,000 cases take about a second).
  for (let i = 0; i < 400 && !ds.timeline.some((e) => e.event === "exec" && e.data.command === "cat"); i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const report = await fuzz({ port: ds.port, cases: 1000, concurrency: 16, handshake: HANDSHAKE });
  const healthy = await traffic.stop();

  assert.deepEqual(report.failures, [], `fuzz seed ${report.seed}`);
  assert.equal(report.cases, 1000);
  assert.ok(Object.values(report.byKind).every((n) => n >= 333), JSON.stringify(report.byKind));
  assert.ok(ds.clients.length >= 1300 + 1 + healthy.transfers, `the server saw ${ds.clients.length} clients`);
  assert.deepEqual(healthy.failures, []);
  assert.ok(healthy.transfers >= 1);

  const login = await sshWithPassword(ds.port, "foo", "echo still-serving");
  assert.equal(login.stdout, "still-serving\n", login.stderr);

  const after = await settledCensus((census) => census.fds <= before.fds);
  const figures = `fuzz seed ${report.seed}: fds ${before.fds} -> ${after.fds}, ` +
    `RSS ${mebibytes(before.rssBytes)} -> ${mebibytes(after.rssBytes)} MiB`;
  assert.ok(Math.abs(after.fds - before.fds) <= 2, figures);
  assert.ok(after.rssBytes - before.rssBytes < RSS_SLACK_BYTES, figures);
  assert.deepEqual(after.zombies, []);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { DemoServer } from "../src/demo/mod.ts";

// The usual mistakes of a first hour with the library: each gets a message that names its fix.

test("a forgotten await on DemoServer.start(): reading the Promise's fields says to await it", async () => {
  const started = DemoServer.start();
  const asPlainJavaScriptSeesIt = started as unknown as Record<string, unknown>;
  for (const name of ["port", "host", "close", "timeline", "clients", "knownHostsLine"]) {
    assert.throws(
      () => asPlainJavaScriptSeesIt[name],
      new RegExp(`DemoServer\\.start\\(\\) returns a Promise: await it before reading \\.${name} `),
    );
  }
  assert.throws(
    () => (started as unknown as AsyncDisposable)[Symbol.asyncDispose],
    /await it before `await using` it/,
  );
  assert.deepEqual(Object.keys(started), [], "the hints are not enumerable");
  await using ds = await started; // the Promise itself works as ever
  assert.ok(ds.port > 0);
});

test("DemoServer.start() rejects (not throws) when it cannot start", async () => {
  const started = DemoServer.start({ port: 70000 });
  assert.ok(started instanceof Promise);
  await assert.rejects(started, RangeError);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { AuthStatus, ChannelCallbacks, ServerCallbacks } from "../mod.ts";

test("callback properties belong to each set, though their accessors are shared", () => {
  const onData = (): number => 0;
  const first = new ChannelCallbacks("first", { onData });
  const second = new ChannelCallbacks("second");
  assert.equal(first.onData, onData);
  assert.equal(second.onData, undefined);
  const onEof = (): void => {};
  second.onEof = onEof;
  assert.equal(second.onEof, onEof);
  assert.equal(first.onEof, undefined);
  assert.deepEqual([first.userdata, second.userdata], ["first", "second"]);
  assert.ok("onExecRequest" in first && "onAuthPassword" in new ServerCallbacks());
  assert.equal("onAuthPassword" in first, false, "channel sets have no server callbacks");
});

test("callback properties take functions, and null or undefined to clear them", () => {
  const callbacks = new ServerCallbacks(undefined, { onAuthNone: () => AuthStatus.Denied });
  assert.throws(
    () => (callbacks as unknown as Record<string, unknown>).onAuthPassword = "yes",
    { name: "TypeError", message: "onAuthPassword must be a function" },
  );
  assert.throws(
    () => new ChannelCallbacks(undefined, { onData: 42 as unknown as () => number }),
    { name: "TypeError", message: "onData must be a function" },
  );
  (callbacks as unknown as Record<string, unknown>).onAuthNone = null;
  assert.equal(callbacks.onAuthNone, undefined);
  callbacks.onAuthNone = () => AuthStatus.Success;
  callbacks.onAuthNone = undefined;
  assert.equal(callbacks.onAuthNone, undefined);
});

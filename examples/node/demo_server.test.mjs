// deno-lint-ignore-file explicit-function-return-type -- plain JavaScript, as a Node user writes it
// A DemoServer in `node:test` with the npm package: `node --test`.
// The client under test here is the `ssh2` package; use your own code instead.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DemoServer } from "libssh/demo";
import ssh2 from "ssh2";

/** Runs `command` over SSH with the ssh2 client; resolves with its output and exit code. */
function exec(ds, command) {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on("error", reject);
    client.on("ready", () => {
      client.exec(command, (error, stream) => {
        if (error) return reject(error);
        let stdout = "";
        stream.on("data", (data) => stdout += data);
        stream.on("close", (code) => {
          client.end();
          resolve({ stdout, code });
        });
      });
    });
    client.connect({ host: ds.host, port: ds.port, username: "tester", password: ds.password });
  });
}

test("our tool runs its commands on the server", async () => {
  const ds = await DemoServer.start();
  try {
    assert.deepEqual(await exec(ds, "echo hello; exit 7"), { stdout: "hello\n", code: 7 });
    assert.deepEqual(ds.clients[0].commands, ["echo hello; exit 7"]);
  } finally {
    await ds.close(); // or `await using ds = …` where the runtime has it
  }
});

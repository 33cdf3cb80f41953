// A DemoServer in `deno test`: run with `deno test -A examples/deno/`.
// Each test gets its own throw-away server; `await using` ends it (and every
// client and command) when the test ends, whatever happens.
import { DemoServer } from "@libssh/libssh/demo";

/** Runs OpenSSH against the server with password auth; returns what it printed and its exit code. */
async function ssh(ds: DemoServer, command: string): Promise<{ stdout: string; code: number }> {
  const output = await new Deno.Command("sshpass", {
    args: [
      "-p",
      ds.password,
      "ssh",
      "-p",
      String(ds.port),
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
      "-o",
      "PreferredAuthentications=password",
      `tester@${ds.host}`,
      command,
    ],
  }).output();
  return { stdout: new TextDecoder().decode(output.stdout), code: output.code };
}

Deno.test("a deploy script's remote commands", async (t) => {
  await using ds = await DemoServer.start({ password: "s3cret" });

  await t.step("runs the command and sees its output and status", async () => {
    const result = await ssh(ds, "echo deployed; exit 3");
    if (result.stdout !== "deployed\n" || result.code !== 3) throw new Error(JSON.stringify(result));
  });

  await t.step("the server saw who logged in and what ran", () => {
    const client = ds.clients.at(-1);
    if (client?.authMethod !== "password" || client.commands[0] !== "echo deployed; exit 3") {
      ds.printTimeline(); // the whole story, when an assertion fails
      throw new Error("unexpected client record");
    }
  });
});

Deno.test("fake commands in-process with an exec handler", async () => {
  await using ds = await DemoServer.start({
    exec: async (command, channel) => {
      await channel.write(`pretending to run: ${command}\n`);
      return command === "systemctl restart app" ? 0 : 1;
    },
  });
  const result = await ssh(ds, "systemctl restart app");
  if (result.stdout !== "pretending to run: systemctl restart app\n" || result.code !== 0) {
    throw new Error(JSON.stringify(result));
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DemoServer } from "../src/demo/mod.ts";
import { SshKey } from "../mod.ts";
import { python } from "./support/clients.ts";
import { startEchoServer } from "./support/echo_server.ts";

/** Runs an asyncssh script: `main(port, *args)` is awaited; warnings of old ciphers are silenced. */
function asyncssh(
  body: string,
  args: string[],
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const script = `
import asyncio, sys, warnings
warnings.simplefilter("ignore")
import asyncssh
${body}
asyncio.run(main(int(sys.argv[1]), *sys.argv[2:]))`;
  return python(script, args);
}

test("asyncssh: password, keyboard-interactive and public key logins; wrong secrets refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "libssh-asyncssh-"));
  try {
    const key = SshKey.generate("ed25519");
    const keyFile = join(dir, "id");
    writeFileSync(keyFile, key.toPrivateKeyString(), { mode: 0o600 });
    await using ds = await DemoServer.start({ authorizedKeys: [key] });
    const result = await asyncssh(
      `
class Answers(asyncssh.SSHClient):
    def kbdint_auth_requested(self): return ""
    def kbdint_challenge_received(self, name, instructions, lang, prompts):
        print("prompts", [p for p, echo in prompts]); return ["foo", "bar"]

async def login(**options):
    try:
        async with asyncssh.connect("127.0.0.1", port, username="tester", known_hosts=None, **options) as c:
            return (await c.run("echo $((6*7))")).stdout.strip()
    except asyncssh.PermissionDenied:
        return "denied"

async def main(port_, key_file):
    global port; port = port_
    print("password", await login(password="foo", preferred_auth="password"))
    print("wrong password", await login(password="nope", preferred_auth="password"))
    print("kbdint", await login(client_factory=Answers, preferred_auth="keyboard-interactive"))
    print("publickey", await login(client_keys=[key_file], preferred_auth="publickey"))
    print("unknown key", await login(client_keys=[asyncssh.generate_private_key("ssh-ed25519")], preferred_auth="publickey"))`,
      [String(ds.port), keyFile],
    );
    assert.equal(
      result.stdout,
      "password 42\nwrong password denied\nprompts ['Password: ', 'Token: ']\nkbdint 42\npublickey 42\nunknown key denied\n",
      result.stderr,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("asyncssh: exec status and signal, env, stdin to EOF, sftp, both forwarding directions", async () => {
  await using ds = await DemoServer.start();
  await using echo = await startEchoServer();
  const dir = mkdtempSync(join(tmpdir(), "libssh-asyncssh-"));
  try {
    const result = await asyncssh(
      `
import hashlib, os
async def main(port, echo_port, workdir):
    echo_port = int(echo_port)
    async with asyncssh.connect("127.0.0.1", port, username="tester", password="foo", known_hosts=None,
                                preferred_auth="password") as c:
        r = await c.run("exit 3"); print("status", r.exit_status)
        r = await c.run("kill -TERM $$"); print("signal", r.exit_signal[0] if r.exit_signal else None)
        r = await c.run('echo "$GREETING" && test -n "$PATH" && echo path-kept', env={"GREETING": "hi"}); print(r.stdout.replace("\\n", " ").strip())
        r = await c.run("wc -c", input="x" * 100000); print("stdin", r.stdout.strip())
        data = os.urandom(300000); src = os.path.join(workdir, "src.bin"); open(src, "wb").write(data)
        async with c.start_sftp_client() as sftp:
            await sftp.mkdir(os.path.join(workdir, "d"))
            await sftp.put(src, os.path.join(workdir, "d", "up.bin"))
            await sftp.rename(os.path.join(workdir, "d", "up.bin"), os.path.join(workdir, "d", "moved.bin"))
            print("ls", sorted(set(await sftp.listdir(os.path.join(workdir, "d"))) - {".", ".."}))
            print("size", (await sftp.stat(os.path.join(workdir, "d", "moved.bin"))).size)
            await sftp.get(os.path.join(workdir, "d", "moved.bin"), os.path.join(workdir, "back.bin"))
            await sftp.remove(os.path.join(workdir, "d", "moved.bin")); await sftp.rmdir(os.path.join(workdir, "d"))
        print("sftp intact", hashlib.sha256(open(os.path.join(workdir, "back.bin"), "rb").read()).hexdigest() == hashlib.sha256(data).hexdigest())
        reader, writer = await c.open_connection("127.0.0.1", echo_port)
        writer.write(b"through -L"); writer.write_eof(); print("direct", (await reader.read()).decode())
        listener = await c.forward_remote_port("", 0, "127.0.0.1", echo_port)
        r2, w2 = await asyncio.open_connection("127.0.0.1", listener.get_port())
        w2.write(b"through -R"); w2.write_eof(); print("reverse", (await r2.read()).decode()); w2.close()
        listener.close(); await listener.wait_closed()`,
      [String(ds.port), String(echo.port), dir],
    );
    assert.equal(
      result.stdout,
      [
        "status 3",
        "signal TERM",
        "hi path-kept",
        "stdin 100000",
        "ls ['moved.bin']",
        "size 300000",
        "sftp intact True",
        "direct through -L",
        "reverse through -R",
        "",
      ].join("\n"),
      result.stderr,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

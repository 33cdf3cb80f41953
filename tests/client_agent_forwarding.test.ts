import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { startSshAgent } from "./support/agent.ts";
import { run } from "./support/clients.ts";
import { connectToSshd } from "./support/client_fixtures.ts";
import { startSshd } from "./support/sshd.ts";

/** `ssh-add -l` run on the server: what the forwarded agent (if any) holds. */
const LIST_KEYS = "ssh-add -l; echo status=$?";

test("agentForwarding: ssh-add -l run on sshd lists the local agent's key; without it the server has no agent", async () => {
  await using sshd = await startSshd({ config: ["AllowAgentForwarding yes"] });
  await using agent = await startSshAgent(sshd.dir, [sshd.clientKeyFile]);
  const fingerprint = (await run("ssh-keygen", ["-l", "-f", sshd.clientKeyFile])).stdout.split(" ")[1];
  assert.match(fingerprint, /^SHA256:/);
  const target = {
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    hostKey: { fingerprint: sshd.fingerprint },
    auth: { privateKey: sshd.clientKeyFile },
  };
  {
    await using ssh = await connect({ ...target, agentForwarding: agent.socket });
    const listed = await ssh.run(LIST_KEYS);
    assert.match(listed.stdoutText, new RegExp(`${fingerprint.replace(/[+/]/g, "\\$&")}.*status=0`, "s"));
    // spawn and shell ask for it too; several agent connections, one after another and at once.
    await using spawned = await ssh.spawn(LIST_KEYS);
    assert.match(await new Response(spawned.stdout).text(), /status=0/);
    const together = await Promise.all([1, 2, 3].map(() => ssh.run(LIST_KEYS)));
    for (const result of together) assert.match(result.stdoutText, /status=0/);
    await using shell = await ssh.shell({ pty: false });
    const input = shell.stdin.getWriter();
    await input.write(new TextEncoder().encode(`${LIST_KEYS}\nexit\n`));
    await input.close();
    assert.match(await new Response(shell.stdout).text(), /status=0/);
  }
  {
    // Off (the default): no auth-agent-req, so sshd gives the command no SSH_AUTH_SOCK.
    await using ssh = await connectToSshd(sshd);
    const listed = await ssh.run(`echo "sock=$SSH_AUTH_SOCK"; ${LIST_KEYS}`);
    assert.match(listed.stdoutText, /^sock=\n/);
    assert.match(listed.stdoutText, /status=2/); // ssh-add: "Could not open a connection to your authentication agent"
    // Asked for by hand on a session without agentForwarding: sshd makes the socket, this side refuses its channels.
    await using channel = await ssh.openSession();
    await channel.requestAgentForwarding();
    await channel.requestExec(`echo "sock=$SSH_AUTH_SOCK"; ${LIST_KEYS}`);
    await channel.sendEof();
    const output = await new Response(channel.readable).text();
    assert.match(output, /^sock=\/\S+\n/);
    assert.doesNotMatch(output, /status=0/);
    assert.match(sshd.log(), /open failed|refused/i);
  }
});

test("agentForwarding: true takes SSH_AUTH_SOCK; without it connect is a TypeError; an agent gone makes ssh-add fail, the session goes on", async () => {
  await using sshd = await startSshd({ config: ["AllowAgentForwarding yes"] });
  const agent = await startSshAgent(sshd.dir, [sshd.clientKeyFile]);
  const target = {
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    hostKey: { fingerprint: sshd.fingerprint },
    auth: { privateKey: sshd.clientKeyFile },
  };
  const saved = process.env.SSH_AUTH_SOCK;
  try {
    delete process.env.SSH_AUTH_SOCK;
    await assert.rejects(connect({ ...target, agentForwarding: true }), TypeError);
    process.env.SSH_AUTH_SOCK = agent.socket;
    const errors: string[] = [];
    await using ssh = await connect({
      ...target,
      agentForwarding: true,
      onError: (error, context) => errors.push(`${context}: ${error}`),
    });
    assert.match((await ssh.run(LIST_KEYS)).stdoutText, /status=0/);
    await agent[Symbol.asyncDispose]();
    const listed = await ssh.run(LIST_KEYS);
    assert.doesNotMatch(listed.stdoutText, /status=0/);
    assert.ok(errors.some((line) => /agent/.test(line)), errors.join("\n"));
    assert.equal((await ssh.run("echo still")).stdoutText, "still\n");
  } finally {
    if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
    else process.env.SSH_AUTH_SOCK = saved;
    await agent[Symbol.asyncDispose]();
  }
  await assert.rejects(connect({ ...target, agentForwarding: "" }), TypeError);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../mod.ts";
import { sleep } from "./support/client_fixtures.ts";
import { startSshd } from "./support/sshd.ts";

/**
 * How long the event loop was held while `work` ran: the worst delay of a
 * 10 ms interval, counted only as far as this process used the CPU meanwhile.
 * On a busy machine a timer also fires late while the process is not even
 * running (seen: 385 ms with nothing to do, at a load of 10 on 2 cores); a
 * long task on the JS thread is late and busy at once.
 */
async function worstLag(work: () => Promise<void>): Promise<number> {
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let worst = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    const late = now - last - 10;
    worst = Math.max(worst, Math.min(late, (cpu.user + cpu.system) / 1000));
    last = now;
    lastCpu = process.cpuUsage();
  }, 10);
  try {
    await work();
  } finally {
    clearInterval(ticker);
  }
  return worst;
}

test("never blocking: 20 runs at once on one session and 30 sessions at once keep the event loop under 50 ms", async () => {
  await using sshd = await startSshd({ config: ["MaxStartups 100", "MaxSessions 100"] });
  const options = {
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    hostKey: { fingerprint: sshd.fingerprint },
    auth: { privateKey: sshd.clientKeyFile },
  };
  await using ssh = await connect(options);
  const runsLag = await worstLag(async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => ssh.run(`echo ${i}`)));
    results.forEach((result, i) => assert.equal(result.stdoutText, `${i}\n`));
  });
  const sessionsLag = await worstLag(async () => {
    const sessions = await Promise.all(Array.from({ length: 30 }, () => connect(options)));
    try {
      const outputs = await Promise.all(sessions.map((session, i) => session.run(`echo s${i}`)));
      outputs.forEach((result, i) => assert.equal(result.stdoutText, `s${i}\n`));
    } finally {
      await Promise.all(sessions.map((session) => session.close()));
    }
  });
  assert.ok(runsLag < 50, `20 runs: the event loop waited ${runsLag.toFixed(1)} ms`);
  assert.ok(sessionsLag < 50, `30 sessions: the event loop waited ${sessionsLag.toFixed(1)} ms`);
});

test("an idle connected client uses no CPU", async () => {
  await using sshd = await startSshd();
  await using ssh = await connect({
    host: "127.0.0.1",
    port: sshd.port,
    user: sshd.user,
    hostKey: { fingerprint: sshd.fingerprint },
    auth: { privateKey: sshd.clientKeyFile },
  });
  await using _process = await ssh.spawn("sleep 30"); // an open channel too
  await sleep(200);
  const before = process.cpuUsage();
  await sleep(2000);
  const used = process.cpuUsage(before);
  const ms = (used.user + used.system) / 1000;
  assert.ok(ms < 30, `${ms.toFixed(1)} ms of CPU in 2 s idle`);
  assert.equal(ssh.isConnected, true);
});

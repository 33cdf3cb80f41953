/**
 * The DemoServer's spawner process: commands are its children, not the
 * server's; it dies with the server; when it dies, its commands fail clearly
 * and a new one takes over; when none can start, commands start from the
 * server's process. `spawner: "auto"` uses it only once the server holds
 * thousands of descriptors, `"never"` not at all.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { DemoServer } from "../src/demo/mod.ts";
import { SshKey } from "../mod.ts";
import { closeSync, openSync } from "node:fs";
import { Spawner, START_SPAWNER_FROM, USE_SPAWNER_FROM } from "../src/demo/spawner.ts";
import { startBackground } from "./support/background.ts";
import { moduleUrl, python, ssh2, sshpassArgs, sshWithPassword } from "./support/clients.ts";
import { openFds, processesMatching } from "./support/census.ts";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether process `pid` exists (a zombie counts). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until `pid` is gone; false if it still exists after `timeoutMs`. */
async function gone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < timeoutMs; await sleep(25)) {
    if (!alive(pid)) return true;
  }
  return false;
}

/** The pids of the spawners the server recorded as started, oldest first. */
function spawnerPids(ds: DemoServer): number[] {
  return ds.timeline.filter((entry) => entry.event === "spawner-started").map((entry) =>
    entry.data.pid as number
  );
}

/** Waits for the first `count` spawners to be ready. */
async function spawnersStarted(ds: DemoServer, count = 1): Promise<number[]> {
  for (let i = 0; i < 400 && spawnerPids(ds).length < count; i++) await sleep(25);
  const pids = spawnerPids(ds);
  assert.ok(pids.length >= count, `${pids.length} spawner(s) started, not ${count}`);
  return pids;
}

/** SIGKILLs the processes this test started whose command line is `command`. */
function killMatching(command: string): void {
  for (const entry of processesMatching(command)) {
    if (entry.command !== command) continue;
    try {
      process.kill(entry.pid, "SIGKILL");
    } catch { /* gone meanwhile */ }
  }
}

/** CPU ticks (1/100 s) a process used so far, its own and its reaped children's. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields.slice(11, 15).map(Number).reduce((sum, n) => sum + n, 0);
}

test("commands are children of the spawner, which holds few descriptors and idles at 0 CPU", async () => {
  await using ds = await DemoServer.start({ spawner: "always" });
  const [spawner] = await spawnersStarted(ds);
  const result = await sshWithPassword(ds.port, "foo", "echo $PPID; echo to-stderr >&2; exit 7");
  assert.equal(result.code, 7, result.stderr);
  assert.equal(Number(result.stdout.trim()), spawner, "the command's parent");
  assert.equal(result.stderr, "to-stderr\n");
  assert.ok(openFds(spawner) < 40, `the spawner holds ${openFds(spawner)} descriptors`);
  for (const client of ds.clients) await client.closed;
  const before = cpuTicks(spawner);
  await sleep(1000);
  assert.equal(cpuTicks(spawner) - before, 0, "the spawner used CPU while no command ran");
});

test("many commands at once, stdin and EOF, signals and an unknown command, through the spawner", async () => {
  await using ds = await DemoServer.start({ spawner: "always" });
  const results = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) => ssh2({ port: ds.port, password: "foo", command: `echo ${i}; exit ${i}` }),
    ),
  );
  results.forEach((result, i) => {
    assert.equal(result.stdout, `${i}\n`);
    assert.equal(result.code, i);
  });
  const piped = await sshWithPassword(ds.port, "foo", "wc -c", { input: "x".repeat(100_000) });
  assert.equal(piped.stdout.trim(), "100000");
  const missing = await ssh2({ port: ds.port, password: "foo", command: "exec /nonexistent/program" });
  assert.equal(missing.code, 127);
  const killed = await ssh2({ port: ds.port, password: "foo", command: "kill -TERM $$" });
  assert.equal(killed.signal, "SIGTERM");
});

test("killing the server with SIGKILL leaves no spawner and no command behind", async () => {
  const demo = moduleUrl(new URL("../src/demo/mod", import.meta.url));
  const script = `import { DemoServer } from ${JSON.stringify(demo.href)};
const ds = await DemoServer.start({ spawner: "always" });
for (let i = 0; i < 400 && !ds.timeline.some((e) => e.event === "spawner-started"); i++) {
  await new Promise((resolve) => setTimeout(resolve, 25));
}
const spawner = ds.timeline.find((e) => e.event === "spawner-started");
console.log(JSON.stringify({ port: ds.port, spawner: spawner?.data.pid }));
await new Promise(() => {});`;
  const server = startBackground(
    process.execPath,
    "Deno" in globalThis ? ["eval", "--ext=js", script] : ["--input-type=module", "-e", script],
  );
  await using _server = server;
  const line = JSON.parse((await server.waitFor(/\{.*\}\n/))[0]);
  assert.ok(line.spawner > 0, server.output());
  const command = startBackground("sshpass", sshpassArgs(line.port, "foo", "echo started; sleep 58.321"));
  await using _command = command;
  await command.waitFor(/started/);
  const sleeper = Number(
    (await sshWithPassword(line.port, "foo", "pgrep -f '^sleep 58.321$'")).stdout.trim(),
  );
  assert.ok(sleeper > 0, "the command runs");
  process.kill(server.child.pid!, "SIGKILL");
  assert.equal(await gone(line.spawner), true, `spawner ${line.spawner} outlived its server`);
  assert.equal(await gone(sleeper), true, `command ${sleeper} outlived its server`);
});

test("a spawner that dies: its commands end with status 255 and a message, the next command gets a new one", async () => {
  await using ds = await DemoServer.start({ spawner: "always" });
  const [first] = await spawnersStarted(ds);
  const running = startBackground("sshpass", sshpassArgs(ds.port, "foo", "echo started; sleep 57.5"));
  await using _running = running;
  // Should the spawner die before it told the server the command's pid, the command is out of reach.
  using _leftover = { [Symbol.dispose]: () => killMatching("sleep 57.5") };
  await running.waitFor(/started/);
  process.kill(first, "SIGKILL");
  const ended = await new Promise<number | null>((resolve) =>
    running.child.on("exit", (code) => resolve(code))
  );
  assert.equal(ended, 255, running.output());
  assert.match(
    running.output(),
    /spawner process exited: the command was killed, its exit status is unknown/,
  );
  // Recorded once the spawner is reaped, which may come after its socket told the server.
  const exitedEntry = () => ds.timeline.find((entry) => entry.event === "spawner-exited");
  for (let i = 0; i < 400 && !exitedEntry(); i++) await sleep(25);
  const exited = exitedEntry();
  assert.deepEqual(exited?.data, { pid: first, signal: "SIGKILL", killed: 1 });

  const next = await sshWithPassword(ds.port, "foo", "echo $PPID");
  assert.equal(next.code, 0, next.stderr);
  const pids = spawnerPids(ds);
  assert.equal(pids.length, 2);
  assert.notEqual(pids[1], first);
  assert.equal(Number(next.stdout.trim()), pids[1]);
});

test("close() waits for the spawner to exit", async () => {
  const ds = await DemoServer.start({ spawner: "always" });
  const [spawner] = await spawnersStarted(ds);
  assert.equal((await sshWithPassword(ds.port, "foo", "true")).code, 0);
  await ds.close();
  assert.equal(alive(spawner), false, "the spawner was reaped by close()");
});

test("a spawner that cannot start: commands start from the server's process", async () => {
  SshKey.generate("ed25519").close(); // libssh is loaded here; a spawner started now would look for it where it is not
  const saved = process.env.LIBSSH_PATH;
  process.env.LIBSSH_PATH = "/nonexistent/libssh.so.4";
  let ds: DemoServer;
  try {
    ds = await DemoServer.start({ spawner: "always" });
  } finally {
    if (saved === undefined) delete process.env.LIBSSH_PATH;
    else process.env.LIBSSH_PATH = saved;
  }
  await using _ds = ds;
  const result = await sshWithPassword(ds.port, "foo", "echo $PPID; exit 3");
  assert.equal(result.code, 3, result.stderr);
  assert.equal(Number(result.stdout.trim()), process.pid, "started by the server itself");
  assert.deepEqual(spawnerPids(ds), []);
  const unavailable = ds.timeline.find((entry) => entry.event === "spawner-unavailable");
  assert.match(String(unavailable?.data.reason), /exited before it was ready/);
});

test('spawner: "never" starts commands from the server\'s process: exec, stdin, signals, a pty', async () => {
  await using ds = await DemoServer.start({ spawner: "never" });
  const result = await sshWithPassword(ds.port, "foo", "echo $PPID; cat; exit 4", { input: "typed" });
  assert.equal(result.code, 4, result.stderr);
  assert.equal(result.stdout, `${process.pid}\ntyped`);
  const killed = await ssh2({ port: ds.port, password: "foo", command: "kill -TERM $$" });
  assert.equal(killed.signal, "SIGTERM");
  const terminal = await sshWithPassword(ds.port, "foo", "tty; echo $PPID", { extra: ["-tt"] });
  assert.equal(terminal.code, 0, terminal.stderr);
  const [tty, parent] = terminal.stdout.trim().split(/\r?\n/);
  assert.match(tty, /^\/dev\/pts\/\d+$/);
  assert.equal(Number(parent), process.pid);
  assert.deepEqual(spawnerPids(ds), []);
});

test("a command on a pty through the spawner: its controlling terminal, TERM and window size (paramiko)", async () => {
  await using ds = await DemoServer.start({ spawner: "always" });
  const [spawner] = await spawnersStarted(ds);
  const result = await python(
    `
import sys, paramiko
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect("127.0.0.1", port=int(sys.argv[1]), username="u", password="foo", look_for_keys=False, allow_agent=False)
ch = c.get_transport().open_session()
ch.get_pty(term="vt100", width=91, height=33)
ch.exec_command("echo PARENT=$PPID; stty size; echo TERM=$TERM; ps -o sid=,pgid=,tpgid=,tty= -p $$")
out = b""
while True:
    data = ch.recv(1024)
    if not data:
        break
    out += data
print(out.decode().replace("\\r", ""))
print("STATUS", ch.recv_exit_status())
`,
    [String(ds.port)],
  );
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`PARENT=${spawner}\n`));
  assert.match(result.stdout, /^33 91$/m);
  assert.match(result.stdout, /TERM=vt100/);
  // The shell leads its session, and its group is the terminal's foreground group: a controlling terminal.
  const [sid, pgid, tpgid, tty] = result.stdout.split("TERM=vt100\n")[1].trim().split(/\s+/);
  assert.equal(pgid, sid);
  assert.equal(tpgid, sid);
  assert.match(tty, /^pts\/\d+$/);
  assert.match(result.stdout, /STATUS 0/);
});

test('spawner: "auto" (the default) spawns directly with few descriptors, from the spawner with thousands', async () => {
  await using ds = await DemoServer.start();
  const parent = async (): Promise<number> => {
    const result = await sshWithPassword(ds.port, "foo", "echo $PPID");
    assert.equal(result.code, 0, result.stderr);
    return Number(result.stdout.trim());
  };
  assert.equal(await parent(), process.pid, "few descriptors: spawned directly");
  assert.deepEqual(spawnerPids(ds), [], "no spawner started");

  // Descriptors held as a server holding thousands of sessions holds them: the next ones are numbered above.
  const held: number[] = [];
  try {
    while (held.length === 0 || held.at(-1)! < USE_SPAWNER_FROM + 100) held.push(openSync("/dev/null", "r"));
    assert.equal(await parent(), process.pid, "spawned directly while the spawner starts");
    const [spawner] = await spawnersStarted(ds);
    assert.equal(await parent(), spawner, "past USE_SPAWNER_FROM: from the spawner");
    for (const fd of held.splice(0)) closeSync(fd);
    assert.equal(await parent(), process.pid, "below START_SPAWNER_FROM again: directly");
    assert.ok(START_SPAWNER_FROM < USE_SPAWNER_FROM);
  } finally {
    for (const fd of held) closeSync(fd);
  }
});

test("a spawner mode other than auto, always or never is a TypeError", async () => {
  await assert.rejects(
    DemoServer.start({ spawner: "sometimes" as "auto" }),
    new TypeError('spawner must be one of auto, always, never, not "sometimes"'),
  );
});

test('spawner: "auto" starts the spawner once the server holds START_SPAWNER_FROM sessions, before any command', async () => {
  const started: number[] = [];
  const spawner = new Spawner({
    started: (pid) => started.push(pid),
    exited: () => assert.fail("the spawner died"),
    unavailable: (reason) => assert.fail(reason),
  }, "auto");
  try {
    spawner.expect(START_SPAWNER_FROM - 1);
    await sleep(300);
    assert.deepEqual(started, [], "not below the threshold");
    spawner.expect(START_SPAWNER_FROM);
    for (let i = 0; i < 400 && started.length === 0; i++) await sleep(25);
    assert.equal(started.length, 1);
    spawner.expect(START_SPAWNER_FROM + 1);
    await sleep(100);
    assert.equal(started.length, 1, "one spawner");
  } finally {
    await spawner.close();
  }
  assert.equal(alive(started[0]), false, "closed and reaped");
});

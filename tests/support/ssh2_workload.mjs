// deno-lint-ignore-file explicit-function-return-type -- plain JavaScript run by Node
// Workloads for the fault and load runs, on the npm `ssh2` client, driven by
// one JSON argument; prints JSON lines.
//
//   node tests/support/ssh2_workload.mjs '{"mode":"fault","workload":"exec","port":2222,…}'
//
// Modes:
// - "fault": one session runs `workload` (exec | direct-forward |
//   reverse-forward | sftp) in a loop until the process is killed; prints
//   {"running":true} once the work started.
// - "logins": `count` logins one after the other (connect, key exchange,
//   password, disconnect); prints {"ok","logins","failures","durationMs"}.
// - "load": `sessions` connections at once, each running `rounds` rounds of a
//   workload picked by its number (exec through `cat`, direct-tcpip to the echo
//   server, reverse forwarding echoed by this client, sftp write then read);
//   every transfer is checked by SHA-256. Prints {"ok","operations",
//   "failedOperations","corrupted","bytes","failures","durationMs"}.
import { createHash, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { connect as tcpConnect } from "node:net";

const require = createRequire(import.meta.url);
const { Client } = require("ssh2");
const options = JSON.parse(process.argv[2]);
const WORKLOADS = ["exec", "direct-forward", "reverse-forward", "sftp"];

const sha256 = (data) => createHash("sha256").update(data).digest("hex");

function login() {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.on("ready", () => resolve(client));
    client.on("error", reject);
    client.connect({
      host: "127.0.0.1",
      port: options.port,
      username: "tester",
      password: options.password,
      readyTimeout: 30000,
      hostVerifier: () => true,
    });
  });
}

/** Writes `data` to a duplex stream, ends it, and resolves with everything read back. */
function roundTrip(stream, data) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("error", reject);
    stream.on("close", () => resolve(Buffer.concat(chunks)));
    stream.end(data);
  });
}

function execCat(client, data, command = "cat") {
  return new Promise((resolve, reject) =>
    client.exec(
      command,
      (error, stream) => error ? reject(error) : roundTrip(stream, data).then(resolve, reject),
    )
  );
}

function directForward(client, data) {
  return new Promise((resolve, reject) =>
    client.forwardOut(
      "127.0.0.1",
      0,
      "127.0.0.1",
      options.echoPort,
      (error, stream) => error ? reject(error) : roundTrip(stream, data).then(resolve, reject),
    )
  );
}

/** Asks the server to listen (port 0), echoes what comes back through it, and sends `data` to that port. */
async function reverseForward(client, data) {
  const port = await new Promise((resolve, reject) =>
    client.forwardIn("127.0.0.1", 0, (error, port) => error ? reject(error) : resolve(port))
  );
  try {
    const socket = tcpConnect(port, "127.0.0.1");
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return await roundTrip(socket, data);
  } finally {
    await new Promise((resolve) => client.unforwardIn("127.0.0.1", port, () => resolve()));
  }
}

async function sftpWriteRead(client, data, path) {
  const sftp = await new Promise((resolve, reject) =>
    client.sftp((error, s) => error ? reject(error) : resolve(s))
  );
  try {
    await new Promise((resolve, reject) =>
      sftp.writeFile(path, data, (error) => error ? reject(error) : resolve())
    );
    const back = await new Promise((resolve, reject) =>
      sftp.readFile(path, (error, content) => error ? reject(error) : resolve(content))
    );
    await new Promise((resolve) => sftp.unlink(path, () => resolve()));
    return back;
  } finally {
    sftp.end();
  }
}

/** Serves forwarded-tcpip channels opened by the server: echoes them. */
function echoForwardedConnections(client) {
  client.on("tcp connection", (_info, accept) => {
    const stream = accept();
    stream.on("error", () => {});
    stream.pipe(stream);
  });
}

function runOnce(client, workload, data, tag) {
  switch (workload) {
    case "exec":
      return execCat(client, data, options.command ?? "cat");
    case "direct-forward":
      return directForward(client, data);
    case "reverse-forward":
      return reverseForward(client, data);
    case "sftp":
      return sftpWriteRead(client, data, `${options.dir}/${process.pid}-${tag}.bin`);
    default:
      throw new Error(`unknown workload ${workload}`);
  }
}

function print(result) {
  return new Promise((resolve) => process.stdout.write(JSON.stringify(result) + "\n", resolve));
}

if (options.mode === "fault") {
  const client = await login();
  echoForwardedConnections(client);
  const data = randomBytes(options.size ?? 256 * 1024);
  let announced = false;
  for (let round = 0;; round++) {
    const work = runOnce(client, options.workload, data, round);
    if (!announced) {
      announced = true;
      await print({ running: true });
    }
    await work;
  }
} else if (options.mode === "logins") {
  const started = Date.now();
  const failures = [];
  let logins = 0;
  for (let i = 0; i < options.count; i++) {
    try {
      const client = await login();
      logins++;
      client.end();
    } catch (error) {
      if (failures.length < 20) failures.push(`login ${i}: ${error.message}`);
    }
  }
  await print({ ok: failures.length === 0, logins, failures, durationMs: Date.now() - started });
  process.exit(0);
} else if (options.mode === "load") {
  const started = Date.now();
  const figures = {
    operations: 0,
    failedOperations: 0,
    corrupted: 0,
    bytes: 0,
    failures: [],
    byWorkload: {},
  };
  const fail = (text) => figures.failures.length < 20 && figures.failures.push(text);
  const session = async (index) => {
    const workload = WORKLOADS[index % WORKLOADS.length];
    let client;
    try {
      client = await login();
    } catch (error) {
      figures.failedOperations++;
      fail(`session ${index}: login: ${error.message}`);
      return;
    }
    echoForwardedConnections(client);
    for (let round = 0; round < options.rounds; round++) {
      const data = randomBytes(options.size);
      try {
        const back = await runOnce(client, workload, data, `${index}-${round}`);
        figures.operations++;
        figures.byWorkload[workload] = (figures.byWorkload[workload] ?? 0) + 1;
        if (back.length !== data.length || sha256(back) !== sha256(data)) {
          figures.corrupted++;
          fail(`session ${index} ${workload} round ${round}: ${back.length} bytes back of ${data.length}`);
        } else {
          figures.bytes += 2 * data.length;
        }
      } catch (error) {
        figures.failedOperations++;
        fail(`session ${index} ${workload} round ${round}: ${error.message}`);
      }
    }
    client.end();
  };
  await Promise.all(Array.from({ length: options.sessions }, (_, i) => session(i)));
  await print({
    ok: figures.failedOperations === 0 && figures.corrupted === 0,
    ...figures,
    durationMs: Date.now() - started,
  });
  process.exit(0);
} else {
  await print({ ok: false, error: `unknown mode ${options.mode}` });
  process.exit(2);
}

// deno-lint-ignore-file explicit-function-return-type -- plain JavaScript run by Deno and Node
// The SFTP benchmark's JS clients: this binding's `ClientSession.sftp()` (on
// Deno with mod.ts, on Node with the npm build) with `download` / `upload`,
// or the npm `ssh2` client's `sftp()` with `fastGet` / `fastPut` (what its
// README offers for whole files), each with its defaults. One transfer of a
// file between `local` and `remote`, measured from the call to its end (the
// login and the SFTP handshake left out).
//
//   deno run -A bench/sftp_load.mjs '{"client":"ours","module":"…/mod.ts","direction":"down",…}'
//   node bench/sftp_load.mjs '{"client":"ssh2","direction":"up","local":…,"remote":…,…}'
//
// Prints one JSON line: { cpuMs, wallMs, ops, bytes }.
import { connectOurs, connectSsh2, cpuMs, printResult } from "./js_clients.mjs";

const options = JSON.parse(process.argv[2]);
const { direction, local, remote } = options;

async function oursTransfer() {
  const ssh = await connectOurs(options);
  const sftp = await ssh.sftp();
  return {
    transfer: () => direction === "down" ? sftp.download(remote, local) : sftp.upload(local, remote),
    close: async () => {
      await sftp.close();
      await ssh.close();
    },
  };
}

async function ssh2Transfer() {
  const connection = await connectSsh2(options);
  const sftp = await new Promise((resolve, reject) =>
    connection.sftp((error, sftp) => error ? reject(error) : resolve(sftp))
  );
  return {
    transfer: () =>
      new Promise((resolve, reject) => {
        const done = (error) => error ? reject(error) : resolve();
        if (direction === "down") sftp.fastGet(remote, local, done);
        else sftp.fastPut(local, remote, done);
      }),
    close: () => connection.end(),
  };
}

const client = options.client === "ours" ? await oursTransfer() : await ssh2Transfer();
const cpu0 = cpuMs(), wall0 = performance.now();
await client.transfer();
const result = { cpuMs: cpuMs() - cpu0, wallMs: performance.now() - wall0, ops: 1, bytes: options.bytes };
await client.close();
printResult(result);

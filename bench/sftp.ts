/**
 * The SFTP benchmark: this binding's SFTP client on Deno and on Node, the
 * npm `ssh2` client's SFTP and OpenSSH's `sftp`, one after another against
 * the same private sshd (the other benchmarks', with `internal-sftp`),
 * downloading and uploading one file of random bytes.
 *
 *   deno run -A bench/sftp.ts [--quick] [--runs N]
 *
 * Each figure is the median of `--runs` repetitions (3; `--quick`: 1 run of
 * 64 MiB instead of 256 MiB), clients interleaved, a fresh sshd for each
 * transfer: wall time as throughput, and the client's own CPU (user +
 * system, every thread) per GiB. The JS clients measure themselves around
 * the transfer call (`download`/`upload`, ssh2's `fastGet`/`fastPut`), after
 * login and the SFTP handshake; `sftp -b` is measured with `/usr/bin/time`
 * (ssh included), less a run of the same command that only logs in. Every
 * copy is checked (size and sha256 against the source) before it counts.
 * Writes `bench/results/sftp.{md,json}`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { cleanUp } from "./bootstrap.ts";
import {
  type ClientName,
  CLIENTS,
  type LoginSettings,
  type Measurement,
  median,
  OPENSSH_OPTIONS,
  output,
  prepareClientBench,
  RESULTS_DIR,
  runJsClient,
  timeOpenssh,
} from "./client_processes.ts";

const quick = Deno.args.includes("--quick");
const runsFlag = Deno.args.indexOf("--runs");
const RUNS = runsFlag >= 0 ? Number(Deno.args[runsFlag + 1]) : quick ? 1 : 3;
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs takes a positive integer`);
const BYTES = (quick ? 64 : 256) * 1024 * 1024;
const MIB = 1024 * 1024;
const GIB = 1024 ** 3;

const LOAD = fileURLToPath(new URL("./sftp_load.mjs", import.meta.url));

type Direction = "down" | "up";
const DIRECTIONS: Direction[] = ["down", "up"];
const LABELS: Record<ClientName, string> = {
  "ours-deno": "ours (Deno): `download` / `upload`",
  "ours-node": "ours (Node): `download` / `upload`",
  "ssh2": "ssh2 1.17 (Node): `fastGet` / `fastPut`",
  "openssh": "OpenSSH 9.2 `sftp -b`: `get` / `put`",
};

/** One transfer: `remote` on the server, `local` here; `direction` says which is the source. */
interface Transfer {
  direction: Direction;
  local: string;
  remote: string;
}

/** Runs `sftp -b` with `commands`; its CPU and wall time, ssh's included. */
function opensshSftp(login: LoginSettings, commands: string, batchPath: string): Promise<{
  cpuMs: number;
  wallMs: number;
}> {
  Deno.writeTextFileSync(batchPath, commands);
  // -b turns BatchMode on (no password prompt): ssh takes the first value given, so it is turned off first.
  const sftp = ["sftp", "-P", String(login.port), "-o", "BatchMode=no", ...OPENSSH_OPTIONS, "-b", batchPath];
  return timeOpenssh((timed) => `${timed([...sftp, `${login.user}@127.0.0.1`])} > /dev/null`);
}

/** `sftp -b` for one transfer, less one that only logs in (`pwd`) against the same server. */
async function opensshTransfer(
  login: LoginSettings,
  transfer: Transfer,
  tempDir: string,
): Promise<Measurement> {
  const batch = `${tempDir}/sftp-batch`;
  const loginOnly = await opensshSftp(login, "pwd\n", batch);
  const command = transfer.direction === "down"
    ? `get ${transfer.remote} ${transfer.local}`
    : `put ${transfer.local} ${transfer.remote}`;
  const whole = await opensshSftp(login, `${command}\n`, batch);
  return {
    cpuMs: whole.cpuMs - loginOnly.cpuMs,
    wallMs: whole.wallMs - loginOnly.wallMs,
    ops: 1,
    bytes: BYTES,
  };
}

async function sha256(path: string): Promise<string> {
  return (await output("sha256sum", [path])).split(" ")[0];
}

/** Throws unless `path` holds exactly the source's bytes: a broken transfer must not give a figure. */
async function checkCopy(path: string, sourceSha256: string, what: string): Promise<void> {
  const size = Deno.statSync(path).size;
  if (size !== BYTES) throw new Error(`${what}: the copy has ${size} bytes, not ${BYTES}`);
  const sum = await sha256(path);
  if (sum !== sourceSha256) throw new Error(`${what}: the copy's sha256 is ${sum}, not ${sourceSha256}`);
}

/** Removes a copy, if the transfer got as far as making it (the error that stopped it is the one to see). */
function removeCopy(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

const log = (line: string): void => console.error(`bench:sftp: ${line}`);
const { environment, sshd, login } = await prepareClientBench(log);
const results: Record<ClientName, Record<Direction, Measurement[]>> = Object.fromEntries(
  CLIENTS.map((client) => [client, { down: [], up: [] }]),
) as unknown as Record<ClientName, Record<Direction, Measurement[]>>;
try {
  // The server side runs as the bench user: its directory is that user's, the source readable by all.
  const remoteDir = `${environment.tempDir}/remote`;
  const localDir = `${environment.tempDir}/local`;
  Deno.chmodSync(environment.tempDir, 0o755);
  Deno.mkdirSync(remoteDir);
  Deno.mkdirSync(localDir);
  await output("chown", [login.user, remoteDir]);
  const source = `${remoteDir}/source.bin`;
  log(`writing ${BYTES / MIB} MiB of random bytes`);
  await output("bash", ["-c", `head -c ${BYTES} /dev/urandom > ${source} && chmod 644 ${source}`]);
  const sourceSha256 = await sha256(source);
  for (let run = 1; run <= RUNS; run++) {
    for (const direction of DIRECTIONS) {
      for (const client of CLIENTS) {
        const transfer: Transfer = direction === "down"
          ? { direction, remote: source, local: `${localDir}/download.bin` }
          : { direction, remote: `${remoteDir}/upload.bin`, local: source };
        const copy = direction === "down" ? transfer.local : transfer.remote;
        const server = await sshd.start(environment);
        try {
          log(`run ${run}/${RUNS}: ${client} ${direction}`);
          const settings = { ...login, port: server.port };
          const measurement = client === "openssh"
            ? await opensshTransfer(settings, transfer, environment.tempDir)
            : await runJsClient<Measurement>(
              LOAD,
              client === "ours-deno" ? "deno" : "node",
              { ...settings, ...transfer, bytes: BYTES, client: client === "ssh2" ? "ssh2" : "ours" },
            );
          await checkCopy(copy, sourceSha256, `${client} ${direction}`);
          results[client][direction].push(measurement);
        } finally {
          await server.stop();
          removeCopy(copy);
        }
      }
    }
  }
} finally {
  cleanUp(environment);
}

interface Figures {
  mibPerSecond: number[];
  cpuSecondsPerGiB: number[];
}
const figures = (measurements: Measurement[]): Figures => ({
  mibPerSecond: measurements.map((m) => BYTES / MIB / (m.wallMs / 1000)),
  cpuSecondsPerGiB: measurements.map((m) => m.cpuMs / 1000 / (BYTES / GIB)),
});
const perClient = Object.fromEntries(
  CLIENTS.map((client) => [client, {
    down: figures(results[client].down),
    up: figures(results[client].up),
  }]),
) as Record<ClientName, Record<Direction, Figures>>;

/** The median, with the range over the runs when there are several. */
const cell = (values: number[], digits: number): string =>
  values.length === 1
    ? values[0].toFixed(digits)
    : `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${
      Math.max(...values).toFixed(digits)
    })`;
const rows = CLIENTS.map((client) => {
  const { down, up } = perClient[client];
  const cells = [
    cell(down.mibPerSecond, 0),
    cell(down.cpuSecondsPerGiB, 2),
    cell(up.mibPerSecond, 0),
    cell(up.cpuSecondsPerGiB, 2),
  ];
  return `| ${LABELS[client]} | ${cells.join(" | ")} |`;
});

const ratio = (
  client: ClientName,
  other: ClientName,
  direction: Direction,
  figure: keyof Figures,
): string =>
  (median(perClient[client][direction][figure]) / median(perClient[other][direction][figure])).toFixed(2);
const targets = (["ours-deno", "ours-node"] as const).map((client) =>
  `${LABELS[client].split(":")[0]}: throughput ÷ OpenSSH (≥ 0.8) down ${
    ratio(client, "openssh", "down", "mibPerSecond")
  }, up ${ratio(client, "openssh", "up", "mibPerSecond")}; throughput ÷ ssh2 (≥ 1.0) down ${
    ratio(client, "ssh2", "down", "mibPerSecond")
  }, up ${ratio(client, "ssh2", "up", "mibPerSecond")}; CPU per GiB ÷ ssh2 (≤ 1.0) down ${
    ratio(client, "ssh2", "down", "cpuSecondsPerGiB")
  }, up ${ratio(client, "ssh2", "up", "cpuSecondsPerGiB")}.`
);
const report = [
  `SFTP benchmark (${quick ? "quick" : "full"}), ${new Date().toISOString()}: ${BYTES / MIB} MiB of random ` +
  `bytes each way, ${RUNS === 1 ? "one run" : `medians of ${RUNS} runs (range in brackets)`}, ` +
  "against a private OpenSSH sshd with internal-sftp (curve25519-sha256, aes128-gcm, ssh-ed25519, password); " +
  "each copy checked by size and sha256.",
  "",
  "| client | download MiB/s | download client CPU s/GiB | upload MiB/s | upload client CPU s/GiB |",
  "| --- | --- | --- | --- | --- |",
  ...rows,
  "",
  "Targets (ratios of medians):",
  "",
  ...targets.map((line) => `- ${line}`),
].join("\n");
Deno.mkdirSync(RESULTS_DIR, { recursive: true });
Deno.writeTextFileSync(`${RESULTS_DIR}sftp.md`, report + "\n");
Deno.writeTextFileSync(
  `${RESULTS_DIR}sftp.json`,
  JSON.stringify({ quick, RUNS, BYTES, results, figures: perClient }, null, 2),
);
console.log(report);

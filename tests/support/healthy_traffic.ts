/**
 * A well-behaved client that keeps transferring while something hostile goes
 * on: 5 MB of random data through an exec channel, again and again (ssh2
 * client processes, one at a time), each checked by SHA-256. Even transfers
 * run `cat` (the bytes come back), odd ones `sha256sum` (the server's command
 * hashes what it received).
 *
 * @module
 */

import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ssh2 } from "./clients.ts";

/** What the healthy client saw. */
export interface HealthyTrafficReport {
  transfers: number;
  /** Bytes sent and checked (both ways for `cat`). */
  bytes: number;
  /** One line per failed or corrupted transfer. */
  failures: string[];
}

/** A client running transfers until `stop()`. */
export interface HealthyTraffic {
  /** Lets the transfer in flight finish, then resolves with the figures. */
  stop(): Promise<HealthyTrafficReport>;
}

/** Starts transferring `size` bytes (default 5 MB) per exec to `port`, until stopped. */
export function startHealthyTraffic(port: number, password: string, size = 5_000_000): HealthyTraffic {
  const dir = mkdtempSync(join(tmpdir(), "healthy-traffic-"));
  const file = join(dir, "payload");
  const payload = randomBytes(size);
  writeFileSync(file, payload);
  const digest = createHash("sha256").update(payload).digest("hex");
  const report: HealthyTrafficReport = { transfers: 0, bytes: 0, failures: [] };
  let stopping = false;
  const loop = (async () => {
    // At least one transfer, even when stopped at once.
    do {
      const roundTrip = report.transfers % 2 === 0;
      const result = await ssh2({
        port,
        password,
        command: roundTrip ? "cat" : "sha256sum",
        stdinFile: file,
      });
      report.transfers++;
      const received = roundTrip ? result.stdoutSha256 : result.stdout?.split(" ")[0];
      if (!result.ok || result.code !== 0) {
        report.failures.push(`transfer ${report.transfers}: ${result.error ?? `exit ${result.code}`}`);
      } else if (received !== digest || (roundTrip && result.stdoutLength !== size)) {
        report.failures.push(`transfer ${report.transfers}: sha256 ${received} instead of ${digest}`);
      } else {
        report.bytes += roundTrip ? 2 * size : size;
      }
    } while (!stopping);
  })();
  return {
    stop: async () => {
      stopping = true;
      try {
        await loop;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      return report;
    },
  };
}

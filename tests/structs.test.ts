/**
 * What the binding knows of libssh's C API, against the headers of every
 * libssh release at hand: the system's (/usr/include/libssh), each release
 * built by scripts/test_libssh_versions.sh (.cache/libssh/<version>), and the
 * one under test (LIBSSH_INCLUDE, which that script sets beside LIBSSH_PATH).
 * A small C program compiled against each gives the sizes and offsets of the
 * callback structs; the headers' constants are read as
 * scripts/gen_constants.ts reads them.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as constants from "../ffi/constants.ts";
import { libsshVersion, parseVersion } from "../ffi/load.ts";
import { CHANNEL_CALLBACKS, HEADER_BYTES, SERVER_CALLBACKS, type StructLayout } from "../ffi/structs.ts";
import type { NativeType } from "../ffi/symbols.ts";
import { headerConstants } from "../scripts/header_constants.ts";
import { run } from "./support/clients.ts";
import { repositoryFile } from "./support/repository.ts";

const STRUCTS: readonly StructLayout<string>[] = [SERVER_CALLBACKS, CHANNEL_CALLBACKS];
const SYSTEM_HEADERS = "/usr/include/libssh";

/** One release's public headers: the folder holding `libssh.h`, and why it is compared. */
interface HeaderSet {
  dir: string;
  origin: string;
}

/** The header folders to compare, and what could not be compared (said in the output). */
function headerSets(): { sets: HeaderSet[]; missing: string[] } {
  const sets: HeaderSet[] = [];
  const missing: string[] = [];
  const underTest = process.env.LIBSSH_INCLUDE;
  if (underTest) {
    assert.ok(
      basename(underTest) === "libssh" && existsSync(join(underTest, "libssh.h")),
      `LIBSSH_INCLUDE=${underTest} must be a folder named libssh holding libssh.h`,
    );
    sets.push({ dir: underTest, origin: "LIBSSH_INCLUDE, the version under test" });
  }
  if (existsSync(join(SYSTEM_HEADERS, "libssh.h"))) {
    sets.push({ dir: SYSTEM_HEADERS, origin: "the system's" });
  } else missing.push(`the system's (${SYSTEM_HEADERS}: install libssh-dev)`);
  // The releases scripts/test_libssh_versions.sh builds, from its list.
  const script = readFileSync(repositoryFile("scripts/test_libssh_versions.sh"), "utf8");
  const releases = [...script.matchAll(/^\s*"(\d+\.\d+\.\d+) [0-9a-f]{64}"$/gm)].map((m) => m[1]);
  assert.ok(releases.length > 0, "no releases found in scripts/test_libssh_versions.sh");
  for (const release of releases) {
    const dir = fileURLToPath(repositoryFile(`.cache/libssh/${release}/include/libssh`));
    if (existsSync(join(dir, "libssh.h"))) {
      sets.push({ dir, origin: "built by scripts/test_libssh_versions.sh" });
    } else missing.push(`${release} (not built: bash scripts/test_libssh_versions.sh builds it)`);
  }
  const byRealPath = new Map<string, HeaderSet>();
  for (const set of sets) {
    if (!byRealPath.has(realpathSync(set.dir))) byRealPath.set(realpathSync(set.dir), set);
  }
  return { sets: [...byRealPath.values()], missing };
}

/** The C program that prints the version, then `sizeof` and member offsets of every struct in `STRUCTS`. */
function probeSource(): string {
  const lines = [
    "#include <stddef.h>",
    "#include <stdio.h>",
    "#include <libssh/libssh.h>",
    "#include <libssh/server.h>",
    "#include <libssh/callbacks.h>",
    "int main(void) {",
    '  printf("version %d.%d.%d\\n", LIBSSH_VERSION_MAJOR, LIBSSH_VERSION_MINOR, LIBSSH_VERSION_MICRO);',
  ];
  for (const { name, members } of STRUCTS) {
    lines.push(`  printf("sizeof ${name} %zu\\n", sizeof(struct ${name}));`);
    for (const member of ["size", "userdata", ...Object.values<string>(members)]) {
      lines.push(`  printf("offsetof ${name} ${member} %zu\\n", offsetof(struct ${name}, ${member}));`);
    }
  }
  lines.push("  return 0;", "}", "");
  return lines.join("\n");
}

/** What one release's headers say: its version and the probe's figures by line label. */
interface Probe {
  headers: HeaderSet;
  version: string;
  figures: Map<string, number>;
}

async function probe(headers: HeaderSet, workDir: string): Promise<Probe> {
  const source = join(workDir, "probe.c");
  const binary = join(workDir, "probe");
  writeFileSync(source, probeSource());
  const compiled = await run("gcc", ["-std=c11", "-I", dirname(headers.dir), "-o", binary, source]);
  assert.equal(compiled.code, 0, `gcc against ${headers.dir}:\n${compiled.stderr}`);
  const ran = await run(binary, []);
  assert.equal(ran.code, 0, ran.stderr);
  let version = "";
  const figures = new Map<string, number>();
  for (const line of ran.stdout.trim().split("\n")) {
    const label = line.slice(0, line.lastIndexOf(" "));
    const value = line.slice(line.lastIndexOf(" ") + 1);
    if (label === "version") version = value;
    else figures.set(label, Number(value));
  }
  return { headers, version, figures };
}

let probed: Promise<{ probes: Probe[]; missing: string[] }> | undefined;

/** Every header set's probe, made once for the tests of this file. */
function probes(): Promise<{ probes: Probe[]; missing: string[] }> {
  probed ??= (async () => {
    const { sets, missing } = headerSets();
    assert.ok(sets.length > 0, "no libssh headers to compare with: install libssh-dev");
    const workDir = mkdtempSync(join(tmpdir(), "libssh-structs-"));
    try {
      const probes: Probe[] = [];
      for (const headers of sets) probes.push(await probe(headers, workDir));
      return { probes, missing };
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  })();
  return probed;
}

/** The differences between `STRUCTS` and one release's figures, as sentences. */
function layoutDifferences({ version, figures }: Probe): string[] {
  const release = version.split(".").slice(0, 2).join(".");
  const differences: string[] = [];
  for (const layout of STRUCTS) {
    const expected = layout.sizeByRelease[release];
    const actual = figures.get(`sizeof ${layout.name}`);
    if (expected === undefined) {
      differences.push(
        `${layout.name}: ffi/structs.ts has no size for ${release} (the headers say ${actual})`,
      );
    } else if (actual !== expected) {
      differences.push(`sizeof ${layout.name} is ${actual}, ffi/structs.ts says ${expected} for ${release}`);
    }
    const offsets: [string, number][] = [["size", 0], ["userdata", 8]];
    layout.fields.forEach((field, i) => offsets.push([layout.members[field], HEADER_BYTES + 8 * i]));
    for (const [member, offset] of offsets) {
      const actualOffset = figures.get(`offsetof ${layout.name} ${member}`);
      if (actualOffset !== offset) {
        differences.push(
          `${layout.name}.${member} is at ${actualOffset}, the binding writes it at ${offset}`,
        );
      }
    }
    if (actual !== undefined && layout.size > actual) {
      differences.push(`${layout.name}: the binding's size ${layout.size} exceeds the struct's ${actual}`);
    }
  }
  return differences;
}

/** Constants the library refers to by name (in mod.ts, src/ and ffi/, enum comments included). */
function constantsInUse(): Set<string> {
  const sources = [repositoryFile("mod.ts")];
  for (const dir of ["src/", "ffi/"]) {
    const root = repositoryFile(dir);
    for (const name of readdirSync(root, { recursive: true, encoding: "utf8" })) {
      if (name.endsWith(".ts") && `${dir}${name}` !== "ffi/constants.ts") sources.push(new URL(name, root));
    }
  }
  const words = new Set(
    sources.flatMap((url) => readFileSync(url, "utf8").match(/\b[A-Z][A-Z0-9_]+\b/g) ?? []),
  );
  return new Set(Object.keys(constants).filter((name) => words.has(name)));
}

test("callback structs: ffi/structs.ts gives every libssh release's sizes and the offsets the binding writes", async () => {
  const { probes: results, missing } = await probes();
  const problems: string[] = [];
  for (const result of results) {
    const differences = layoutDifferences(result);
    console.log(
      `libssh ${result.version} headers (${result.headers.dir}, ${result.headers.origin}): ` +
        STRUCTS.map((s) => `sizeof ${s.name} ${result.figures.get(`sizeof ${s.name}`)}`).join(", ") +
        (differences.length === 0 ? "; offsets match" : `; ${differences.length} difference(s)`),
    );
    problems.push(...differences.map((d) => `libssh ${result.version}: ${d}`));
  }
  for (const what of missing) console.log(`NOT COMPARED: libssh headers of ${what}`);
  assert.deepEqual(problems, [], problems.join("\n"));
});

/** The foreign type the binding uses for a C parameter or result type. */
function nativeTypeOf(cType: string): NativeType | "void" | undefined {
  const type = cType.replace(/\bconst\b/g, "").replace(/\s+/g, " ").trim();
  if (type.includes("*") || /^ssh_[a-z_]+$/.test(type)) return "pointer";
  return ({ void: "void", int: "i32", uint32_t: "u32", char: "i8" } as Record<string, NativeType | "void">)[
    type
  ];
}

/**
 * The C signature of every function pointer member of `struct name`, from
 * its typedef in `source`: the result type and the parameter types.
 */
function memberSignatures(
  source: string,
  name: string,
): Map<string, { result: string; parameters: string[] }> {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, "");
  const body = text.match(new RegExp(`struct ${name}\\s*\\{([\\s\\S]*?)\\};`))?.[1];
  assert.ok(body, `struct ${name} not found`);
  const signatures = new Map<string, { result: string; parameters: string[] }>();
  for (const [, typedef, member] of body.matchAll(/(\w+)\s+(\w+)\s*;/g)) {
    const found = text.match(
      new RegExp(`typedef\\s+([\\w\\s*]+?)\\s*\\(\\s*\\*\\s*${typedef}\\s*\\)\\s*\\(([^)]*)\\)`),
    );
    if (!found) continue; // size_t size, void *userdata
    const parameters = found[2].split(",").map((p) => p.trim().replace(/\s*\b\w+$/, ""));
    signatures.set(member, { result: found[1].trim(), parameters });
  }
  return signatures;
}

test("callback tables: each line's parameters and result are its C typedef's, in every release's headers", () => {
  const problems: string[] = [];
  let compared = 0;
  for (const { dir } of headerSets().sets) {
    const source = readFileSync(join(dir, "callbacks.h"), "utf8") +
      readFileSync(join(dir, "server.h"), "utf8");
    for (const layout of STRUCTS) {
      const signatures = memberSignatures(source, layout.name);
      for (const field of layout.fields) {
        const entry = layout.callbacks[field];
        const c = signatures.get(layout.members[field]);
        if (!entry) continue;
        if (!c) {
          problems.push(`${dir}: ${layout.name}.${layout.members[field]} has no typedef`);
          continue;
        }
        compared++;
        const theirs = { result: nativeTypeOf(c.result), parameters: c.parameters.map(nativeTypeOf) };
        const ours = { result: entry.result, parameters: [...entry.parameters] };
        if (JSON.stringify(theirs) !== JSON.stringify(ours)) {
          problems.push(
            `${dir}: ${layout.name}.${field} is ${JSON.stringify(ours)} in ffi/structs.ts, ` +
              `${JSON.stringify(theirs)} in C (${c.result} (${c.parameters.join(", ")}))`,
          );
        }
      }
    }
  }
  const settable = STRUCTS.reduce((n, layout) => n + Object.keys(layout.callbacks).length, 0);
  assert.ok(compared >= settable, `compared ${compared} signatures, the tables set ${settable}`);
  assert.deepEqual(problems, [], problems.join("\n"));
});

test("callback tables: the size written and each settable field's index follow from the table's order", () => {
  for (const layout of STRUCTS) {
    assert.equal(layout.size, HEADER_BYTES + 8 * layout.fields.length, layout.name);
    assert.deepEqual(
      Object.keys(layout.members),
      [...layout.fields],
      `${layout.name}: members in field order`,
    );
    for (const [field, entry] of Object.entries(layout.callbacks)) {
      assert.equal(
        entry?.member,
        layout.members[field as keyof typeof layout.members],
        `${layout.name}.${field}`,
      );
      assert.equal(entry?.parameters.at(-1), "pointer", `${layout.name}.${field}: userdata comes last`);
    }
  }
});

test("the loaded libssh is one whose headers were compared (LIBSSH_INCLUDE beside LIBSSH_PATH)", async () => {
  const text = libsshVersion();
  const loaded = parseVersion(text);
  assert.ok(loaded, `unparsable ssh_version() ${text}`);
  const version = `${loaded.major}.${loaded.minor}.${loaded.patch}`;
  const compared = (await probes()).probes.map((p) => p.version);
  assert.ok(
    compared.includes(version),
    `libssh ${version} is loaded, but the headers compared are ${compared}: set LIBSSH_INCLUDE to its include/libssh folder`,
  );
});

test("ffi/constants.ts: the constants the library uses have the same values in every release's headers", async () => {
  const used = constantsInUse();
  assert.ok(used.has("SSH_AUTH_DENIED") && used.has("SSH_AGAIN"), `constants in use: ${[...used]}`);
  const generated = constants as Record<string, number>;
  const problems: string[] = [];
  for (const { headers, version } of (await probes()).probes) {
    const theirs = new Map(
      headerConstants((header) => readFileSync(join(headers.dir, header), "utf8")).flatMap((g) => g.entries),
    );
    const differences: string[] = [];
    for (const [name, value] of Object.entries(generated)) {
      const their = theirs.get(name);
      if (their === value) continue;
      const difference = their === undefined
        ? `${name} (${value}) is absent`
        : `${name} is ${their}, not ${value}`;
      differences.push(difference + (used.has(name) ? " [USED BY THE LIBRARY]" : ""));
      if (used.has(name)) problems.push(`libssh ${version}: ${difference}`);
    }
    const added = [...theirs.keys()].filter((name) => !(name in generated));
    console.log(
      `libssh ${version} constants (${headers.dir}) against ffi/constants.ts: ` +
        (differences.length === 0 ? "no differences" : differences.join("; ")) +
        (added.length === 0 ? "" : `; only in ${version}: ${added.join(", ")}`),
    );
  }
  assert.deepEqual(problems, [], problems.join("\n"));
});

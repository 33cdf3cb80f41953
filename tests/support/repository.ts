/**
 * Files of the repository itself, for tests that read its sources or scripts.
 *
 * @module
 */

import { existsSync } from "node:fs";

/**
 * A file of the repository, by path from its root: the nearest folder with a
 * `deno.json` above this module (the tests also run compiled, from
 * `npm/tests/`, where only the JavaScript is).
 */
export function repositoryFile(path: string): URL {
  let dir = new URL(".", import.meta.url);
  while (!existsSync(new URL("deno.json", dir))) {
    const parent = new URL("..", dir);
    if (parent.href === dir.href) throw new Error(`no deno.json above ${import.meta.url}`);
    dir = parent;
  }
  return new URL(path, dir);
}

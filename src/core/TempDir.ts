/**
 * A private temp directory that lives as long as the current scope: created
 * first, so whatever is written into it afterwards is removed with it even when
 * the writing fails half-way.
 */
import { Effect } from "effect"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"

export const scopedTempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.tryPromise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), prefix))),
    (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
  )

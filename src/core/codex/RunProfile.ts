/**
 * The run's private settings file: `$CODEX_HOME/<name>.config.toml`, handed to codex as
 * `--profile=<name>` (codex's "profile v2": a file layered on top of the user's config.toml,
 * read by codex 0.135 through 0.171; the name must be a plain name, so the file sits in
 * CODEX_HOME). It carries what must not go on the command line (PROTOCOL.md §4): the system prompt
 * as `developer_instructions` (reaches the model as a developer message, exactly as
 * `-c developer_instructions=…` did) and the agent's host-tools server with the turn token. Created
 * 0600 with O_EXCL under a random name, and removed as soon as codex has named the thread or called
 * a host tool (at the latest when the turn ends): codex reads it only while it starts. Checked with strace on 0.171
 * (`codex exec` and `exec … resume`, a server from the profile): codex opened the file five times,
 * all before it printed `thread.started`, and started the server from what it had read; nothing
 * opened it after. While it exists, a command the model runs under codex's workspace-write
 * sandbox can read it like any file of this user (docs/security.md). A plugin that was SIGKILLed
 * leaves one behind, which the next plugin removes (its pid is in the name).
 */
import { Effect, Schema } from "effect"
import type { Scope } from "effect"
import * as Crypto from "node:crypto"
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { tomlString } from "./CodexArgs.ts"
import { isProcessAlive } from "../ProcessAlive.ts"

export class RunProfileError extends Schema.TaggedError<RunProfileError>()("RunProfileError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

export interface RunProfileInput {
  /** The turn's system prompt (TurnRequest.system). */
  readonly developerInstructions?: string | undefined
  /** MCP server tables (src/core/bridge/HostToolFlags.ts). */
  readonly serverTables?: string
}

/** Top-level keys first: a key after a table header would belong to that table. */
export const runProfileToml = (input: RunProfileInput): string =>
  [
    "# Written by plexum-openai-provider for one codex run; removed once codex has read it.",
    ...(input.developerInstructions !== undefined && input.developerInstructions !== ""
      ? [`developer_instructions = ${tomlString(input.developerInstructions)}`]
      : []),
    "",
    input.serverTables ?? ""
  ].join("\n")

const PREFIX = "plexum-run-"
const FILE = new RegExp(`^${PREFIX}(\\d+)-[0-9a-f]+\\.config\\.toml$`)

export const runProfilePath = (codexHome: string, name: string): string => Path.join(codexHome, `${name}.config.toml`)

/** Removes the run's file, if there; a failure is a warn saying what the file holds. Plain code: twice a turn. */
const removeFile = (codexHome: string, name: string, holds: string): Effect.Effect<void> =>
  Effect.suspend(() => {
    try {
      FsSync.rmSync(runProfilePath(codexHome, name), { force: true })
      return Effect.void
    } catch (e) {
      return Effect.logWarning(`cannot remove the run's settings file ${runProfilePath(codexHome, name)} (${holds}): ${String(e)}`)
    }
  })

/**
 * Writes the file (0600, never over an existing one) for the scope's lifetime; its profile name.
 * Synchronously: a few KiB in CODEX_HOME, on every turn's critical path, where the async calls
 * cost two thread-pool round trips (bench/Turn.bench.ts).
 */
export const writeRunProfile = (codexHome: string, toml: string): Effect.Effect<string, RunProfileError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const name = `${PREFIX}${process.pid}-${Crypto.randomBytes(8).toString("hex")}`
        FsSync.writeFileSync(runProfilePath(codexHome, name), toml, { flag: "wx", mode: 0o600 })
        return name
      },
      catch: (e) =>
        new RunProfileError({ message: `cannot write the run's settings into ${codexHome}: ${(e as Error).message}`, cause: e })
    }),
    (name) => removeFile(codexHome, name, "it holds the system prompt")
  )

/** Removes the run's file now, once codex has read it; the scope's own removal then finds it gone. */
export const removeRunProfile = (codexHome: string, name: string): Effect.Effect<void> =>
  removeFile(codexHome, name, "it holds the turn token and the system prompt")

/** Removes run profiles whose plugin process is gone; the names of the files removed. */
export const removeStaleRunProfiles = async (codexHome: string): Promise<ReadonlyArray<string>> => {
  const entries = await Fs.readdir(codexHome).catch(() => [] as Array<string>)
  const stale = entries.filter((f) => {
    const m = FILE.exec(f)
    return m !== null && Number(m[1]) !== process.pid && !isProcessAlive(Number(m[1]))
  })
  for (const f of stale) await Fs.rm(Path.join(codexHome, f), { force: true }).catch(() => undefined)
  return stale
}

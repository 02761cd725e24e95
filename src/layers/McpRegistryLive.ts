/**
 * McpRegistry: the agent's host-tools server as a table of the run's private profile
 * (src/core/bridge/HostToolFlags.ts), nothing in `config.toml` (PROTOCOL.md §7). Once per process it
 * removes what earlier versions registered there (enabled `plexum-host-*` servers that every
 * codex on the CODEX_HOME started) and the run profiles a killed plugin left behind, logging
 * what it removed.
 *
 * The one edit of `config.toml` is a minimal in-place text edit (src/core/bridge/LegacyRegistrations.ts)
 * under a lock file in CODEX_HOME shared by every plugin process (src/core/bridge/ConfigTomlLock.ts,
 * held as a scoped resource for the edit alone), written atomically to the
 * symlink's target and only if nobody changed the file since it was read (a user's
 * `codex mcp add` takes no lock of ours).
 */
import { Deferred, Effect, Fiber, FiberId, Layer } from "effect"
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { replaceFileIfUnchanged } from "../core/AtomicFile.ts"
import { holdConfigTomlLock } from "../core/bridge/ConfigTomlLock.ts"
import { disabledServerTables, hostServerTable } from "../core/bridge/HostToolFlags.ts"
import { legacyHostServers, withoutServers } from "../core/bridge/LegacyRegistrations.ts"
import { removeStaleRunProfiles } from "../core/codex/RunProfile.ts"
import { serverNameFor } from "../core/bridge/ServerName.ts"
import { socketPathFor } from "../core/bridge/SocketPath.ts"
import { McpRegistrationError, McpRegistry, type McpRegistryShape } from "../services/McpRegistry.ts"
import { PluginPaths } from "../services/PluginPaths.ts"

export interface McpRegistryOptions {
  /** Absolute path of this plugin's executable; codex runs `<launcher> mcp-host`. */
  readonly launcher: string
  /**
   * The node that runs `launcher` (the plugin's own, absolute): codex then runs
   * `<interpreter> <launcher> mcp-host`, not the launcher's `#!/usr/bin/env node`, which looks node
   * up on PATH from the agent's workspace (src/core/HelperCommands.ts says why that is unsafe).
   */
  readonly interpreter?: string
  /** How long codex waits for mcp-host to list its tools (it starts in well under a second). */
  readonly startupTimeoutSec?: number
}

export const DEFAULT_STARTUP_TIMEOUT_SEC = 30
const LOCK_FILE = ".plexum-mcp-registry.lock"

/** Tries before giving up when config.toml keeps changing under the edit. */
const EDIT_ATTEMPTS = 5

export const makeMcpRegistry = (options: McpRegistryOptions) =>
  Effect.gen(function* () {
    const paths = yield* PluginPaths
    const startupTimeoutSec = options.startupTimeoutSec ?? DEFAULT_STARTUP_TIMEOUT_SEC
    const configToml = Path.join(paths.codexHome, "config.toml")
    const lockPath = Path.join(paths.codexHome, LOCK_FILE)

    const serverName = serverNameFor
    const fail = (message: string, cause?: unknown) =>
      new McpRegistrationError({
        serverName: "plexum-host-*",
        message: cause === undefined ? message : `${message}: ${(cause as Error).message ?? String(cause)}`,
        ...(cause === undefined ? {} : { cause })
      })
    const log = (level: "info" | "warn", message: string, fields?: Record<string, unknown>) =>
      (level === "warn" ? Effect.logWarning(message) : Effect.logInfo(message)).pipe(Effect.annotateLogs(fields ?? {}))

    /** Removes the legacy tables; retried while another writer changes the file. Runs under the lock. */
    const editUnderLock = Effect.tryPromise({
      try: async (): Promise<ReadonlyArray<string>> => {
        for (let attempt = 0; attempt < EDIT_ATTEMPTS; attempt++) {
          const before = await Fs.readFile(configToml, "utf8")
          const names = legacyHostServers(before)
          const after = withoutServers(before, names)
          if (after === undefined) return []
          if (await replaceFileIfUnchanged(configToml, before, after)) return names
        }
        throw new Error(`${configToml} kept changing while it was being edited`)
      },
      catch: (e) => fail(`cannot edit ${configToml}`, e)
    })

    /**
     * config.toml as it is now, read on the turn's critical path: synchronously, because the file is
     * small and local and an async read cost a thread-pool round trip each turn (bench/Turn.bench.ts).
     */
    const readConfigTomlNow = Effect.suspend(() => {
      try {
        return Effect.succeed(FsSync.readFileSync(configToml, "utf8"))
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return Effect.succeed("")
        return Effect.as(log("warn", `cannot read ${configToml} (${(e as Error).message}); registrations earlier versions stored there are neither removed nor switched off in this run`), "")
      }
    })

    const editOut = Effect.gen(function* () {
      if (legacyHostServers(yield* readConfigTomlNow).length === 0) return [] as ReadonlyArray<string>
      yield* holdConfigTomlLock(lockPath).pipe(Effect.mapError((e) => fail(`cannot lock ${lockPath}`, e)))
      return yield* editUnderLock
    }).pipe(Effect.scoped)

    const cleanUp = Effect.gen(function* () {
      const stale = yield* Effect.promise(() => removeStaleRunProfiles(paths.codexHome))
      if (stale.length > 0) yield* log("info", `removed ${stale.length} run profile(s) a stopped plugin left in ${paths.codexHome}`, { files: stale })
      const removed = yield* editOut
      if (removed.length > 0) {
        yield* log("info", `removed ${removed.length} plexum-host MCP registration(s) an earlier version stored in ${configToml}; the plugin now defines its server per run only`, { servers: removed })
      }
      return removed
    }).pipe(
      Effect.catchAll((e) =>
        Effect.as(
          log("warn", `${e.message}; the registrations earlier versions stored there stay (switched off in the plugin's own runs), and the user's own codex still starts them`),
          [] as ReadonlyArray<string>
        )
      )
    )
    // Once for the plugin's life, in a fiber of the layer's scope, started by the first turn that
    // asks: a turn cancelled while it runs neither cuts it short nor passes its interruption on.
    // The first caller claims it, forks it and puts the fiber in a Deferred; every caller awaits the fiber's
    // exit: not Effect.cached, which hands its first caller's fiber refs (a pending interruption
    // among them) to every later caller, nor a join, which hands the waiter the fiber's Context,
    // holding the first turn's long-closed Scope. Read in a few steps on every later turn.
    const layerScope = yield* Effect.scope
    const claimed = Deferred.unsafeMake<void>(FiberId.none)
    const cleanUpFiber = Deferred.unsafeMake<Fiber.RuntimeFiber<ReadonlyArray<string>>>(FiberId.none)
    const cleanedUp = Effect.zipRight(
      // Deferred.succeed is true for the one caller that completed it: the claim is atomic.
      Effect.uninterruptible(Effect.flatMap(Deferred.succeed(claimed, undefined), (first) =>
        first ? Effect.flatMap(Effect.forkIn(cleanUp, layerScope), (fiber) => Deferred.succeed(cleanUpFiber, fiber)) : Effect.void)),
      Effect.flatMap(Deferred.await(cleanUpFiber), (fiber) => Effect.flatten(Fiber.await(fiber)))
    )

    // No Effect.fn span or generator: once per turn, on its critical path.
    const runServerTables = (
      agentId: string,
      run: { readonly offersTools: boolean; readonly toolTimeoutSec: number; readonly socketPath?: string; readonly turnToken?: string }
    ): Effect.Effect<string, McpRegistrationError> =>
      Effect.zipRight(cleanedUp, Effect.flatMap(readConfigTomlNow, (toml) => {
        const { offersTools } = run
        const name = serverName(agentId)
        const leftovers = legacyHostServers(toml)
        const socketPath = run.socketPath ?? socketPathFor(paths.profileRoot, agentId, paths.runtimeDir)
        if (offersTools && socketPath === undefined) {
          return Effect.fail(fail("no socket to give the agent's server: the profile's socket directory does not fit and the turn named none"))
        }
        const own = offersTools
          ? hostServerTable({
            name,
            launcher: options.launcher,
            ...(options.interpreter === undefined ? {} : { interpreter: options.interpreter }),
            socketPath: socketPath!,
            agentId,
            ...(run.turnToken === undefined ? {} : { turnToken: run.turnToken }),
            startupTimeoutSec,
            toolTimeoutSec: run.toolTimeoutSec
          })
          : ""
        return Effect.succeed([own, disabledServerTables(leftovers, offersTools ? name : undefined)].filter((t) => t !== "").join("\n"))
      }))

    return { serverName, runServerTables, removeLegacyRegistrations: cleanedUp } satisfies McpRegistryShape
  })

/** Requires PluginPaths; logs through `Effect.log*` (the host's log while serving). */
export const McpRegistryLive = (options: McpRegistryOptions) => Layer.scoped(McpRegistry, makeMcpRegistry(options))

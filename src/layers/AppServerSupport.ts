/**
 * Whether the installed codex can run the app-server engine (PROTOCOL.md §8 "Fallback"): the
 * version an app-server reports and whether it grants the experimental API. The engine verifies
 * the app-server it starts (the runner warns with `reason` and uses the exec engine when `usable`
 * is false); `doctor` starts one just to print the same verdict.
 */
import { Effect } from "effect"
import { appServerArgv, compareVersions, OLDEST_APP_SERVER } from "../core/codex/AppServerArgs.ts"
import type { EngineSupport } from "../services/TurnEngine.ts"
import type { Config } from "../schemas/Config.ts"
import type { AppServerConnectionShape } from "../services/AppServerConnection.ts"
import type { ProcessGroupsShape } from "../services/ProcessGroups.ts"
import { startAppServerConnection } from "./AppServerConnectionLive.ts"

/** The verdict, as `doctor` prints it (src/core/doctor/DoctorEngineCheck.ts). */
export type AppServerSupport = EngineSupport

/**
 * What a started app-server says about itself: too old, or refusing the experimental API (what
 * dynamic tools need), is not usable. Shared by doctor's check and the engine's first start.
 */
export const verifyAppServer = (conn: AppServerConnectionShape, timeoutMs = 15_000): Effect.Effect<AppServerSupport> =>
  Effect.gen(function* () {
    if (conn.version !== undefined && compareVersions(conn.version, OLDEST_APP_SERVER) < 0) {
      return { usable: false, reason: `codex ${conn.version} is older than ${OLDEST_APP_SERVER}, the oldest app-server this plugin supports` } as const
    }
    // A codex that refuses the experimental API answers this with an error.
    yield* conn.request("thread/loaded/list", {}, timeoutMs)
    return { usable: true, version: conn.version } as const
  }).pipe(Effect.catchAll((e) => Effect.succeed({ usable: false, reason: e.message } as const)))

/** `doctor`'s check: starts an app-server with the config's flags, verifies it, ends it. */
export const checkAppServerSupport = (
  config: Pick<Config, "binary" | "extra_args">,
  codexHome: string,
  groups: ProcessGroupsShape,
  timeoutMs = 15_000
): Effect.Effect<AppServerSupport> =>
  Effect.scoped(
    Effect.flatMap(
      startAppServerConnection(
        {
          binary: config.binary,
          args: appServerArgv(config.extra_args).args,
          env: { ...process.env, CODEX_HOME: codexHome },
          cwd: process.cwd(),
          initializeTimeoutMs: timeoutMs
        },
        groups
      ),
      (conn) => verifyAppServer(conn, timeoutMs)
    )
  ).pipe(
    Effect.catchAll((e) => Effect.succeed({ usable: false, reason: e.message } as const)),
    Effect.withSpan("AppServerSupport.check")
  )

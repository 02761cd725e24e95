/**
 * Whether the installed codex can run the app-server engine (PROTOCOL.md §8 "Fallback"): it
 * starts `codex app-server` with the config's flags, asks for the experimental API and reads the
 * version from the answer, then ends it. The runner warns with `reason` and uses the exec engine
 * when `usable` is false; `doctor` prints the same verdict.
 */
import { Effect } from "effect"
import { appServerArgv, compareVersions, OLDEST_APP_SERVER } from "../core/codex/AppServerArgs.ts"
import type { EngineSupport } from "../core/doctor/DoctorEngineCheck.ts"
import type { Config } from "../schemas/Config.ts"
import type { ProcessGroupsShape } from "../services/ProcessGroups.ts"
import { startAppServerConnection } from "./AppServerConnectionLive.ts"

/** The verdict, as `doctor` prints it (src/core/doctor/DoctorEngineCheck.ts). */
export type AppServerSupport = EngineSupport

export const checkAppServerSupport = (
  config: Pick<Config, "binary" | "extra_args">,
  codexHome: string,
  groups: ProcessGroupsShape,
  timeoutMs = 15_000
): Effect.Effect<AppServerSupport> =>
  Effect.scoped(
    Effect.gen(function* () {
      const conn = yield* startAppServerConnection(
        {
          binary: config.binary,
          args: appServerArgv(config.extra_args).args,
          env: { ...process.env, CODEX_HOME: codexHome },
          cwd: process.cwd(),
          initializeTimeoutMs: timeoutMs
        },
        groups
      )
      if (conn.version !== undefined && compareVersions(conn.version, OLDEST_APP_SERVER) < 0) {
        return { usable: false, reason: `codex ${conn.version} is older than ${OLDEST_APP_SERVER}, the oldest app-server this plugin supports` } as const
      }
      // The experimental API is what dynamic tools need; a codex that refuses it answers this with an error.
      yield* conn.request("thread/loaded/list", {}, timeoutMs)
      return { usable: true, version: conn.version } as const
    })
  ).pipe(
    Effect.catchAll((e) => Effect.succeed({ usable: false, reason: e.message } as const)),
    Effect.withSpan("AppServerSupport.check")
  )

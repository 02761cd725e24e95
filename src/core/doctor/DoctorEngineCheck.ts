/**
 * `doctor`'s "engine" line: which engine turns will use and why (PROTOCOL.md §6 `engine`, §8
 * "Fallback"). With `engine: "app-server"` it asks the installed codex (through `support`, which
 * starts `codex app-server` once); a codex that cannot run it is a warning, since turns then
 * still run, on the exec engine.
 */
import { Effect } from "effect"
import type { Config } from "../../schemas/Config.ts"
import type { EngineSupport } from "../../services/TurnEngine.ts"
import { check, type CheckResult } from "./DoctorCheck.ts"

export type { EngineSupport } from "../../services/TurnEngine.ts"

export const checkEngine = (
  config: Pick<Config, "engine">,
  binaryFound: boolean,
  support: Effect.Effect<EngineSupport>
): Effect.Effect<CheckResult> => {
  if (config.engine === "exec") return Effect.succeed(check("engine", "ok", "exec: one `codex exec` per turn (config engine)"))
  if (!binaryFound) return Effect.succeed(check("engine", "skip", "app-server is configured; needs a working codex binary to check"))
  return Effect.map(support, (s) =>
    s.usable
      ? check("engine", "ok", `app-server: one long-lived \`codex app-server\`${s.version ? ` (codex ${s.version})` : ""}`)
      : check(
          "engine",
          "warn",
          `app-server is configured but turns will use exec: ${s.reason}`,
          "install a codex that supports `codex app-server` (0.135 or later), or set \"engine\": \"exec\""
        )
  )
}

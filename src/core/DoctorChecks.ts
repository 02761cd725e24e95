/**
 * Every `doctor` check in the order a user fixes things: config (it names the
 * binary), the codex binary and its version against the tested range, CODEX_HOME, credentials, codex's MCP registrations,
 * the plugin's state directory, the socket directory. Checks that need an
 * earlier one to pass are skipped.
 */
import { Effect } from "effect"
import type { PluginPathsShape } from "../services/PluginPaths.ts"
import { check, type CheckResult } from "./DoctorCheck.ts"
import { checkCodexBinary, checkCodexVersion, checkRegistrations } from "./DoctorCodexChecks.ts"
import { checkCodexHome, checkConfig, checkCredentials, checkSocketDir, checkStateDir } from "./DoctorLocalChecks.ts"
import type { RunProgram } from "./DoctorRun.ts"

export interface DoctorInputs {
  readonly paths: PluginPathsShape
  readonly env: NodeJS.ProcessEnv
  readonly run: RunProgram
}

export const runDoctorChecks = Effect.fn("Doctor.runChecks")(function* (inputs: DoctorInputs) {
  const { env, paths, run } = inputs
  const { config, result: configResult } = yield* checkConfig(paths.configPath)
  const binary = yield* checkCodexBinary(config.binary, paths.configPath, env, run)
  const home = yield* checkCodexHome(paths.codexHome)
  const credentials = yield* checkCredentials(paths.codexHome, env, config.extra_args)
  const registrations: ReadonlyArray<CheckResult> =
    binary.path === undefined || home.status === "fail"
      ? [check("mcp registrations", "skip", "needs a working codex binary and CODEX_HOME")]
      : yield* checkRegistrations(binary.path, paths.codexHome, paths.profileRoot, env, run)
  const stateDir = yield* checkStateDir(paths.stateDir)
  const socketDir = yield* checkSocketDir(paths.profileRoot)
  const version = checkCodexVersion(binary.path === undefined ? undefined : binary.version)
  return [configResult, binary.result, version, home, credentials, ...registrations, stateDir, socketDir] as ReadonlyArray<CheckResult>
})

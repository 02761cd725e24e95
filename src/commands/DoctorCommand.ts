/**
 * `doctor`: checks the set-up a turn needs and says what to fix. One line per
 * check (✓/✗ on a terminal, ok/FAIL when piped); exit status 1 if any failed.
 */
import * as Command from "@effect/cli/Command"
import { Console, Effect, Schema } from "effect"
import { failedChecks, renderCheck, styleFor, summarise } from "../core/DoctorCheck.ts"
import { runDoctorChecks } from "../core/DoctorChecks.ts"
import { runProgram } from "../core/DoctorRun.ts"
import { PluginPaths } from "../services/PluginPaths.ts"

export class DoctorFailed extends Schema.TaggedError<DoctorFailed>()("DoctorFailed", {
  failed: Schema.Number,
  message: Schema.String
}) {}

export const doctor = Effect.gen(function* () {
  const paths = yield* PluginPaths
  const results = yield* runDoctorChecks({ paths, env: process.env, run: runProgram() })
  const style = styleFor(process.stdout.isTTY === true, process.env)
  for (const result of results) yield* Console.log(renderCheck(result, style))
  yield* Console.log(summarise(results))
  const failed = failedChecks(results).length
  if (failed > 0) {
    return yield* new DoctorFailed({ failed, message: `doctor: ${failed} check(s) failed; see the fix: lines above` })
  }
})

export const doctorCommand = Command.make("doctor", {}, () => doctor).pipe(
  Command.withDescription("Check the codex binary, CODEX_HOME, credentials, config, MCP registrations and socket directory.")
)

/**
 * What `doctor` does (src/commands/DoctorCommand.ts defines it and loads this
 * module when it runs): one line per check (✓/✗ on a terminal, ok/FAIL when
 * piped) with the fix; fails with DoctorFailed if any check failed.
 */
import { Console, Effect, Schema } from "effect"
import { failedChecks, renderCheck, styleFor, summarise } from "../core/doctor/DoctorCheck.ts"
import { runDoctorChecks } from "../core/doctor/DoctorChecks.ts"
import { runProgram } from "../core/doctor/DoctorRun.ts"
import { checkAppServerSupport } from "../layers/AppServerSupport.ts"
import { PluginPaths } from "../services/PluginPaths.ts"
import { ProcessGroups } from "../services/ProcessGroups.ts"

export class DoctorFailed extends Schema.TaggedError<DoctorFailed>()("DoctorFailed", {
  failed: Schema.Number,
  message: Schema.String
}) {}

export const doctor = Effect.gen(function* () {
  const paths = yield* PluginPaths
  // The check's app-server is recorded like serve's and ended before doctor returns.
  const groups = yield* ProcessGroups
  const results = yield* runDoctorChecks({
    paths,
    env: process.env,
    run: runProgram(),
    appServerSupport: (config, codexHome) => checkAppServerSupport(config, codexHome, groups)
  })
  const style = styleFor(process.stdout.isTTY === true, process.env)
  for (const result of results) yield* Console.log(renderCheck(result, style))
  yield* Console.log(summarise(results))
  const failed = failedChecks(results).length
  if (failed > 0) {
    return yield* new DoctorFailed({ failed, message: `doctor: ${failed} check(s) failed; see the fix: lines above` })
  }
})

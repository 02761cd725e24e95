/**
 * `doctor`: checks the set-up a turn needs and says what to fix; exit status 1
 * if any check failed. The checks load only when it runs (DoctorActions.ts).
 */
import * as Command from "@effect/cli/Command"
import { Effect } from "effect"

export const doctorCommand = Command.make("doctor", {}, () =>
  Effect.flatMap(
    Effect.promise(() => import("./DoctorActions.ts")),
    (actions) => actions.doctor
  )
).pipe(
  Command.withDescription("Check the codex binary, CODEX_HOME, credentials, config, MCP registrations and socket directory.")
)

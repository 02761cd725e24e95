import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { checkEngine } from "../../../src/core/doctor/DoctorEngineCheck.ts"

describe("checkEngine", () => {
  it.effect("names the engine turns will use and why", () =>
    Effect.gen(function* () {
      const never = Effect.die("not asked")
      expect(yield* checkEngine({ engine: "exec" }, true, never)).toMatchObject({ status: "ok", detail: expect.stringContaining("exec") })
      expect(yield* checkEngine({ engine: "app-server" }, false, never)).toMatchObject({ status: "skip" })
      expect(yield* checkEngine({ engine: "app-server" }, true, Effect.succeed({ usable: true, version: "0.169.0" })))
        .toMatchObject({ status: "ok", detail: expect.stringContaining("codex 0.169.0") })
      const refused = yield* checkEngine({ engine: "app-server" }, true, Effect.succeed({ usable: false, reason: "codex 0.100.0 is older than 0.135.0" }))
      expect(refused).toMatchObject({ status: "warn", detail: expect.stringContaining("turns will use exec: codex 0.100.0 is older") })
    }))
})

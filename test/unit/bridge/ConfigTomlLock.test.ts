// The lock plugin processes take before editing config.toml: held for a scope, waited for while
// another holder has it, and a wait that runs out names the holder.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { holdConfigTomlLock } from "../../../src/core/bridge/ConfigTomlLock.ts"

const tempHome = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "lock-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

describe("config.toml lock", () => {
  it.scopedLive("is held for its scope: a second taker waits for it and gets it once it is let go", () =>
    Effect.gen(function* () {
      const lockPath = Path.join(yield* tempHome, ".lock")
      const first = yield* Scope.make()
      yield* holdConfigTomlLock(lockPath).pipe(Scope.extend(first))
      expect(JSON.parse(Fs.readFileSync(lockPath, "utf8")).pid).toBe(process.pid)
      // Nobody else gets it while it is held.
      expect((yield* Effect.scoped(holdConfigTomlLock(lockPath, 200)).pipe(Effect.flip))._tag).toBe("LockTimedOut")
      const second = yield* Effect.scoped(holdConfigTomlLock(lockPath)).pipe(Effect.fork)
      yield* Scope.close(first, Exit.void)
      yield* Fiber.join(second)
      expect(Fs.existsSync(lockPath)).toBe(false)
    })
  )

  it.scopedLive("a wait that runs out fails with the holder, and leaves the holder's lock alone", () =>
    Effect.gen(function* () {
      const lockPath = Path.join(yield* tempHome, ".lock")
      // A live holder: this very process, under another nonce.
      const holder = JSON.stringify({ pid: process.pid, host: Os.hostname(), nonce: "theirs", at: Date.now() })
      Fs.writeFileSync(lockPath, holder)
      const error = yield* Effect.scoped(holdConfigTomlLock(lockPath, 200)).pipe(Effect.flip)
      expect(error._tag).toBe("LockTimedOut")
      expect(error.message).toContain(`held by ${holder}`)
      expect(Fs.readFileSync(lockPath, "utf8")).toBe(holder)
    })
  )
})

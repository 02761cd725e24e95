// Whether the installed codex can run the app-server engine, and why not (PROTOCOL.md §8 "Fallback").
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { stderrSummary } from "../../../src/layers/AppServerConnectionLive.ts"
import { checkAppServerSupport } from "../../../src/layers/AppServerSupport.ts"
import { makeProcessGroups } from "../../../src/layers/ProcessGroupsLive.ts"
import { testCodexBin } from "../../support/AppServerHarness.ts"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "appserver-support-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** An executable that answers `initialize` like an app-server of `version` and then waits for stdin to close. */
const fakeAppServer = (dir: string, version: string) => {
  const path = join(dir, "fake-codex")
  writeFileSync(
    path,
    `#!/bin/sh\nread line\necho '{"id":1,"result":{"userAgent":"plexum/${version} (Linux)"}}'\ncat >/dev/null\n`
  )
  chmodSync(path, 0o755)
  return path
}

describe("checkAppServerSupport", () => {
  it.scopedLive("the pinned codex can run the engine", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const groups = makeProcessGroups({ runningDir: join(dir, "running") })
      const verdict = yield* checkAppServerSupport({ binary: testCodexBin, extra_args: [] }, dir, groups)
      expect(verdict.usable ? "usable" : verdict.reason).toBe("usable")
      expect(verdict.usable && verdict.version).toMatch(/^\d+\.\d+\.\d+$/)
    }))

  it.scopedLive("a missing binary, a program that is no app-server and a too old codex are refused with the reason", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const groups = makeProcessGroups({ runningDir: join(dir, "running") })
      const check = (binary: string) => checkAppServerSupport({ binary, extra_args: [] }, dir, groups, 5_000)
      expect(yield* check(join(dir, "no-such-codex"))).toMatchObject({ usable: false, reason: expect.stringContaining("could not start codex app-server") })
      expect(yield* check("/bin/false")).toMatchObject({ usable: false, reason: expect.stringContaining("exited with status 1") })
      expect(yield* check(fakeAppServer(dir, "0.100.0"))).toMatchObject({ usable: false, reason: expect.stringContaining("0.100.0 is older than") })
    }))
})

describe("stderrSummary", () => {
  it("keeps codex's error line, not its backtrace", () => {
    const text = 'WARNING: proceeding\nError: CODEX_HOME points to "/x", but that path does not exist\n\nStack backtrace:\n   0: <unknown>\n   1: <unknown>\n'
    expect(stderrSummary(text)).toBe('Error: CODEX_HOME points to "/x", but that path does not exist')
  })
})

// initialize tells the host when the codex it will run is outside the tested range, as doctor does.
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, expect, it } from "vitest"
import { OLDEST_TESTED_CODEX, PINNED_CODEX } from "../../../src/core/codex/CodexVersionRange.ts"
import { makeProfile, type ReferenceHost, startReferenceHost } from "../../support/ReferenceHost.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

const withCodexVersion = async (version: string): Promise<ReferenceHost> => {
  const dir = await mkdtemp(join(tmpdir(), "fake-codex-version-"))
  const binary = join(dir, "codex")
  await writeFile(binary, `#!/bin/sh\necho "codex-cli ${version}"\n`)
  await chmod(binary, 0o755)
  const profile = await makeProfile({ binary })
  const host = await startReferenceHost({ env: { PLEXUM_PROFILE_ROOT: profile.root, CODEX_HOME: join(dir, "home") } })
  cleanups.push(() => host.dispose(), profile.cleanup, () => rm(dir, { recursive: true, force: true }))
  expect((await host.initialize()).result).toBeDefined()
  return host
}

const versionWarnings = async (host: ReferenceHost) => {
  // The check runs in the background; a later request's answer does not wait for it, so poll.
  for (let i = 0; i < 100 && !host.logs.some((l) => /tested range|version/.test(l.message) && l.level === "warn"); i++) {
    await new Promise((r) => setTimeout(r, 50))
  }
  return host.logs.filter((l) => l.level === "warn" && /tested range|version/.test(l.message))
}

it("warns at initialize about a codex older than the tested range, naming the upgrade", async () => {
  const host = await withCodexVersion("0.120.0")
  const [warning] = await versionWarnings(host)
  expect(warning.message).toContain("0.120.0")
  expect(warning.message).toContain(OLDEST_TESTED_CODEX)
  expect(warning.message).toContain("upgrade")
})

it("warns about a codex newer than the pinned one, and says nothing inside the range", async () => {
  const newer = await withCodexVersion("9.0.0")
  expect((await versionWarnings(newer))[0].message).toContain(PINNED_CODEX)
  const inside = await withCodexVersion(PINNED_CODEX)
  await new Promise((r) => setTimeout(r, 1_000))
  expect(inside.logs.filter((l) => l.level === "warn")).toEqual([])
})

// Which codex turns run is decided at initialize (PROTOCOL.md §6, src/core/codex/CodexBinary.ts) and
// told to the host: with no `binary` in the config and no codex on the host's PATH, the one that
// was installed with the plugin (its optional dependency @openai/codex).
import { realpathSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterEach, expect, it } from "vitest"
import { pinnedCodexBin } from "../../support/CodexOffline.ts"
import { makeProfile, startReferenceHost } from "../../support/ReferenceHost.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

it("with no binary set and no codex on PATH, initialize chooses the codex installed with the plugin and says so", async () => {
  const profile = await makeProfile()
  const codexHome = await mkdtemp(join(tmpdir(), "codex-choice-"))
  const host = await startReferenceHost({
    // node for the executable's shebang, no codex
    env: { PLEXUM_PROFILE_ROOT: profile.root, CODEX_HOME: codexHome, PATH: [dirname(process.execPath), "/usr/bin", "/bin"].join(":") }
  })
  cleanups.push(() => host.dispose(), profile.cleanup, () => rm(codexHome, { recursive: true, force: true }))
  expect((await host.initialize()).result).toBeDefined()
  const initialized = host.logs.find((l) => l.message === "plexum-openai-provider initialized")
  expect(initialized?.fields).toMatchObject({ binary: realpathSync(pinnedCodexBin), binarySource: "bundled" })
  expect(host.logs.filter((l) => l.level === "warn")).toEqual([])
})

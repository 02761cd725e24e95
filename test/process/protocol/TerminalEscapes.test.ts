// Text from files reaches a terminal escaped (PROTOCOL.md §3 host/log, `doctor`): a config key made
// of terminal escape sequences shows as visible `\x1b…` text in `doctor`'s output, in `host/log`
// (which hosts print) and on the plugin's stderr, never as raw control characters.
import { spawnSync } from "node:child_process"
import { dirname } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { makeTempCodexHome } from "../../support/CodexOffline.ts"
import { makeProfile, pluginBin, startReferenceHost } from "../../support/ReferenceHost.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

// Sets the terminal title, clears the screen, reverses the text that follows.
const HOSTILE_KEY = "\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202eevil"
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

describe("text from files, escaped on its way to a terminal", () => {
  it("doctor prints a hostile config key as visible escapes", async () => {
    const profile = await makeProfile({ [HOSTILE_KEY]: 1 })
    const home = await makeTempCodexHome()
    cleanups.push(profile.cleanup, home.cleanup)
    const r = spawnSync(pluginBin, ["doctor"], {
      env: { ...process.env, PATH: [dirname(process.execPath), "/usr/bin", "/bin"].join(":"), PLEXUM_PROFILE_ROOT: profile.root, CODEX_HOME: home.dir },
      encoding: "utf8",
      timeout: 45_000
    })
    expect(r.stdout).not.toMatch(RAW)
    expect(r.stderr).not.toMatch(RAW)
    const line = r.stdout.split("\n").find((l) => l.includes("unknown fields"))
    expect(line).toContain("\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202eevil")
  })

  it("host/log carries it escaped in message and fields, and stderr too", async () => {
    const profile = await makeProfile({ [HOSTILE_KEY]: 1 })
    cleanups.push(profile.cleanup)
    const host = await startReferenceHost({ env: { PLEXUM_PROFILE_ROOT: profile.root } })
    cleanups.push(() => host.dispose())
    expect((await host.initialize()).result).toBeDefined()
    const warning = host.logs.find((l) => l.level === "warn" && String(l.message).includes("unknown config field"))
    expect(warning).toBeDefined()
    expect(warning.message).toContain("\\x1b]0;pwned")
    expect(JSON.stringify(warning)).not.toMatch(RAW)
    expect(JSON.stringify(warning).includes("\\u001b")).toBe(false) // no JSON-escaped raw ESC either
    await host.dispose()
    expect(host.stderr).not.toMatch(RAW)
  })
})

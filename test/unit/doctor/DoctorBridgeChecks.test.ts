// doctor's lines for the helper commands and the bridge's peer check (src/core/doctor/DoctorBridgeChecks.ts).
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { checkBridgePeer, checkHelpers, selfPeerCheck } from "../../../src/core/doctor/DoctorBridgeChecks.ts"

const run = <A>(e: Effect.Effect<A>) => Effect.runPromise(e)

describe("bridge peer check line", () => {
  it("is ok on this Linux machine, where the check really tells doctor's own process", async () => {
    expect(await run(selfPeerCheck)).toMatchObject({ kind: "descends", pid: process.pid })
    expect((await run(checkBridgePeer({ bridge_peer_check: true }))).status).toBe("ok")
  })

  it("fails where the check cannot work, saying why and the two ways out", async () => {
    const result = await run(checkBridgePeer({ bridge_peer_check: true }, Effect.succeed({ kind: "unknown", reason: "the `ss` command (iproute2) is not installed" })))
    expect(result.status).toBe("fail")
    expect(result.detail).toContain("the `ss` command (iproute2) is not installed")
    expect(result.detail).toContain("every host tool call will be refused")
    expect(result.fix).toContain('"bridge_peer_check": false')
  })

  it("warns when the operator turned it off", async () => {
    const result = await run(checkBridgePeer({ bridge_peer_check: false }, Effect.die("not asked")))
    expect(result).toMatchObject({ status: "warn" })
    expect(result.detail).toContain("off")
  })
})

describe("helper commands line", () => {
  it("names where each helper was found, or warns with what is missing and what needs it", () => {
    const found = checkHelpers({ PATH: "/usr/bin:/bin" })
    expect(found.status).toBe("ok")
    expect(found.detail).toMatch(/^ss: \/\S+\/ss, flock: \/\S+\/flock, perl: \/\S+\/perl/)
    // A minimal container without util-linux's flock.
    const missing = checkHelpers({ PATH: "/usr/bin" }, (name) => (name === "flock" ? undefined : `/usr/bin/${name}`))
    expect(missing.status).toBe("warn")
    expect(missing.detail).toBe("ss: /usr/bin/ss, flock: not found, perl: /usr/bin/perl; needed for session/mutate holding codex's writer lock of a thread (codex 0.151 and later)")
    expect(missing.fix).toContain("install util-linux (flock)")
    // Without perl codex is forked from the plugin: slower, and said so.
    const noPerl = checkHelpers({ PATH: "/usr/bin" }, (name) => (name === "perl" ? undefined : `/usr/bin/${name}`))
    expect(noPerl.status).toBe("warn")
    expect(noPerl.detail).toContain("perl: not found; needed for starting codex without forking the plugin")
    expect(noPerl.fix).toContain("install perl-base (perl)")
  })
})

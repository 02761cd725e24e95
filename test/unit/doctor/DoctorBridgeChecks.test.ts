// doctor's line for the helper commands (src/core/doctor/DoctorBridgeChecks.ts).
import { describe, expect, it } from "vitest"
import { checkHelpers } from "../../../src/core/doctor/DoctorBridgeChecks.ts"

describe("helper commands line", () => {
  it("names where each helper was found, or warns with what is missing and what needs it", () => {
    const found = checkHelpers({ PATH: "/usr/bin:/bin" })
    expect(found.status).toBe("ok")
    expect(found.detail).toMatch(/^ss: \/\S+\/ss, flock: \/\S+\/flock/)
    // A minimal container without util-linux's flock.
    const missing = checkHelpers({ PATH: "/usr/bin" }, (name) => (name === "ss" ? "/usr/bin/ss" : undefined))
    expect(missing.status).toBe("warn")
    expect(missing.detail).toBe("ss: /usr/bin/ss, flock: not found; needed for session/mutate holding codex's writer lock of a thread (codex 0.151 and later)")
    expect(missing.fix).toContain("install util-linux (flock)")
  })
})

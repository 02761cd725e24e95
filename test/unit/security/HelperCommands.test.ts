// Helper commands (ss, flock) are found the way codex is: absolute PATH entries, then the system's
// own directories; never a relative entry (src/core/HelperCommands.ts).
import { describe, expect, it } from "vitest"
import { resolveHelper } from "../../../src/core/HelperCommands.ts"

/** A file system where only `present` are executable files. */
const only = (...present: Array<string>) => (file: string) => present.includes(file)

describe("resolveHelper", () => {
  it("skips relative PATH entries, even when they come first and hold the command", () => {
    const env = { PATH: "bin::.:/opt/tools/bin" }
    expect(resolveHelper("ss", env, only("bin/ss", "ss", "./ss", "/opt/tools/bin/ss"))).toBe("/opt/tools/bin/ss")
    expect(resolveHelper("flock", env, only("bin/flock", "flock", "./flock"))).toBeUndefined()
  })

  it("looks in the system's directories after PATH, also when PATH is empty or unset", () => {
    expect(resolveHelper("ss", { PATH: "" }, only("/usr/sbin/ss"))).toBe("/usr/sbin/ss")
    expect(resolveHelper("ss", {}, only("/bin/ss", "/sbin/ss"))).toBe("/bin/ss")
    expect(resolveHelper("flock", { PATH: "/home/u/bin" }, only("/home/u/bin/flock", "/usr/bin/flock"))).toBe("/home/u/bin/flock")
  })
})

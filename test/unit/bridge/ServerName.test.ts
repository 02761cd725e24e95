// Server names codex stores and the model sees (PROTOCOL.md §7): valid, short, one per agent.
import { describe, expect, it } from "vitest"
import { serverNameFor } from "../../../src/core/bridge/ServerName.ts"

const VALID = /^[A-Za-z0-9_-]{1,64}$/

const trickyIds = [
  "agent-1",
  "a.b",
  "a_b",
  "a/b",
  "a-b",
  "a b",
  "../../etc/passwd",
  "a".repeat(300),
  "a".repeat(299) + "b",
  "a".repeat(52),
  "a".repeat(53),
  "ünïcødé",
  "unicod_",
  "🙂",
  "🙂🙂",
  "__",
  "",
  "-",
  "0123456789ab",
  "x-0123456789ab",
  "UPPER",
  "upper",
  'quote"and\nnewline'
]

describe("serverNameFor", () => {
  it("keeps a short clean id readable", () => {
    expect(serverNameFor("agent-1")).toBe("plexum-host-agent-1")
    expect(serverNameFor("Build_Bot")).toBe("plexum-host-Build_Bot")
  })

  it("only uses [A-Za-z0-9_-], at most 64 characters, always with the prefix", () => {
    for (const id of trickyIds) {
      const name = serverNameFor(id)
      expect(name, id).toMatch(VALID)
      expect(name.startsWith("plexum-host-"), id).toBe(true)
    }
  })

  it("gives distinct agent ids distinct names, including look-alikes", () => {
    const names = trickyIds.map(serverNameFor)
    expect(new Set(names).size).toBe(trickyIds.length)
  })

  it("does not let a clean id impersonate the hashed name of another id", () => {
    const hashed = serverNameFor("a.b") // plexum-host-a_b-<hash>
    const impostor = hashed.slice("plexum-host-".length)
    expect(serverNameFor(impostor)).not.toBe(hashed)
  })

  it("is stable: the same id always gives the same name", () => {
    for (const id of trickyIds) expect(serverNameFor(id)).toBe(serverNameFor(id))
  })

  it("stays distinct over many generated look-alike ids", () => {
    const ids = new Set<string>()
    for (let i = 0; i < 2000; i++) ids.add(`agent${".-_/ ".charAt(i % 5)}${i}`)
    const names = new Set([...ids].map(serverNameFor))
    expect(names.size).toBe(ids.size)
  })
})


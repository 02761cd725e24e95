// The config.toml write (src/core/AtomicFile.ts replaceFileIfUnchanged): through symlinks, never
// over a change made since the read.
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "vitest"
import { replaceFileIfUnchanged } from "../../../src/core/AtomicFile.ts"

const setup = () => {
  const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "atomic-file-"))
  Fs.mkdirSync(Path.join(root, "dotfiles"))
  const target = Path.join(root, "dotfiles", "config.toml")
  const link = Path.join(root, "config.toml")
  Fs.writeFileSync(target, "old\n", { mode: 0o640 })
  Fs.symlinkSync(target, link)
  return { root, target, link }
}

describe("replaceFileIfUnchanged", () => {
  it("replaces the link's target, keeping the link and the target's mode, and leaves no temp file", async () => {
    const { root, target, link } = setup()
    expect(await replaceFileIfUnchanged(link, "old\n", "new\n")).toBe(true)
    expect(Fs.lstatSync(link).isSymbolicLink()).toBe(true)
    expect(Fs.readFileSync(target, "utf8")).toBe("new\n")
    expect(Fs.statSync(target).mode & 0o777).toBe(0o640)
    expect(Fs.readdirSync(Path.dirname(target))).toEqual(["config.toml"])
    Fs.rmSync(root, { recursive: true })
  })

  it("writes nothing when the file changed since it was read", async () => {
    const { root, target, link } = setup()
    Fs.writeFileSync(target, "old\n[mcp_servers.added_meanwhile]\n")
    expect(await replaceFileIfUnchanged(link, "old\n", "new\n")).toBe(false)
    expect(Fs.readFileSync(target, "utf8")).toBe("old\n[mcp_servers.added_meanwhile]\n")
    expect(Fs.readdirSync(Path.dirname(target))).toEqual(["config.toml"])
    Fs.rmSync(root, { recursive: true })
  })
})

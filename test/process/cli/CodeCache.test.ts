// Every command starts from the V8 code cache that `npm install` builds (bin/plexum-openai-provider-plugin):
// `serve` changes V8's collector flags, and a cache is accepted only under the flags it was made with,
// so `serve` must change them only after compiling and write a cache as the other commands read it.
// A rejected cache is rewritten on exit, and each command would keep recompiling from scratch.
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { pluginBin } from "../../support/ReferenceHost.ts"

const repo = Path.resolve(Path.dirname(pluginBin), "..")
const root = Fs.mkdtempSync(Path.join(Os.tmpdir(), "plexum-cache-"))
// A copy of the executable and its bundle, so the repository's own cache is never touched.
Fs.mkdirSync(Path.join(root, "install", "bin"), { recursive: true })
Fs.mkdirSync(Path.join(root, "install", "dist"))
Fs.copyFileSync(pluginBin, Path.join(root, "install", "bin", Path.basename(pluginBin)))
Fs.copyFileSync(Path.join(repo, "package.json"), Path.join(root, "install", "package.json"))
Fs.copyFileSync(Path.join(repo, "dist", "main.cjs"), Path.join(root, "install", "dist", "main.cjs"))
const bin = Path.join(root, "install", "bin", Path.basename(pluginBin))
const cache = Path.join(root, "install", "dist", "main.cjs.cache")
afterAll(() => Fs.rmSync(root, { recursive: true, force: true }))

const run = (args: ReadonlyArray<string>) => {
  const r = spawnSync(bin, [...args], {
    input: "", // `serve` ends when stdin does
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, PLEXUM_PROFILE_ROOT: Path.join(root, "profile"), CODEX_HOME: Path.join(root, "codex-home") }
  })
  expect(r.status, r.stderr).toBe(0)
}
const written = () => Fs.statSync(cache).mtimeMs

describe("the V8 code cache", () => {
  it.each([
    ["serve", ["serve"], ["manifest"]],
    ["manifest", ["manifest"], ["serve"]]
  ])("written by %s is used as it is by the other commands", (_, writer, other) => {
    Fs.rmSync(cache, { force: true })
    run(writer)
    const first = written()
    for (const args of [other, writer, [], ["rollout", "list", "--codex-home", Path.join(root, "codex-home")]]) {
      run(args)
      expect(written(), `after ${args.join(" ") || "(serve)"}`).toBe(first)
    }
  })
})

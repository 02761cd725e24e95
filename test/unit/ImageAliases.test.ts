import { it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { expect } from "vitest"
import { commaFreeImagePaths } from "../../src/core/codex/ImageAliases.ts"

it.scoped("gives an image with a comma in its path a comma-free alias for the turn, and removes it after", () =>
  Effect.gen(function* () {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "img-test-"))
    const plain = Path.join(dir, "plain.png")
    const tricky = Path.join(dir, "a,b.png")
    Fs.writeFileSync(plain, "p")
    Fs.writeFileSync(tricky, "t")
    let aliases: ReadonlyArray<string> = []
    yield* Effect.scoped(
      Effect.gen(function* () {
        aliases = yield* commaFreeImagePaths([plain, tricky])
        expect(aliases[0]).toBe(plain)
        expect(aliases[1]).not.toContain(",")
        expect(Fs.readFileSync(aliases[1]!, "utf8")).toBe("t")
      })
    )
    expect(Fs.existsSync(aliases[1]!)).toBe(false)
    expect(Fs.existsSync(tricky)).toBe(true)
    Fs.rmSync(dir, { recursive: true })
  })
)

it.effect("leaves comma-free paths alone without touching the disk", () =>
  Effect.gen(function* () {
    expect(yield* Effect.scoped(commaFreeImagePaths(["/x/a.png"]))).toEqual(["/x/a.png"])
  })
)

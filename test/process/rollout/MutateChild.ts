/** Child for the crash test: mutates a rollout; says `ready` first so the parent can time its kill. */
import * as Fs from "node:fs/promises"
import { rewriteRollout } from "../../../src/core/rollout/RolloutRewrite.ts"

const [path, idsFile] = process.argv.slice(2)
const ids = JSON.parse(await Fs.readFile(idsFile!, "utf8")) as Array<string>
process.stdout.write("ready\n")
const result = await rewriteRollout(path!, ids.map((blockId) => ({ blockId, op: "heavy" as const })), "...(tool called)")
process.stdout.write(`done ${result.touched}\n`)

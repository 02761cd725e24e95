/** Child for the writer-lock test: takes codex's writer lock of a thread, says `held`, and waits to be killed. */
import { acquireWriterLock } from "../../../src/core/codex/CodexWriterLock.ts"

const [codexHome, threadId] = process.argv.slice(2)
await acquireWriterLock(codexHome!, threadId!, 5_000)
process.stdout.write("held\n")
setInterval(() => {}, 1 << 30)

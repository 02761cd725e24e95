// Framing of the bridge socket: whole lines out, however the bytes arrive.
import { describe, expect, it } from "vitest"
import { LineTooLong, makeLineFramer } from "../../../src/mcphost/LineFramer.ts"

describe("makeLineFramer", () => {
  it("reassembles lines split across chunks and skips blank lines", () => {
    const frame = makeLineFramer()
    expect(frame('{"a":')).toEqual([])
    expect(frame('1}\n\n{"b"')).toEqual(['{"a":1}'])
    expect(frame(":2}\n")).toEqual(['{"b":2}'])
  })

  it("refuses a line that grows past the limit", () => {
    const frame = makeLineFramer(10)
    expect(() => {
      frame("12345")
      frame("678901")
    }).toThrow(LineTooLong)
  })
})

/**
 * Finds where a value sits inside the bytes of one JSON line, so a rewrite can splice a new value
 * in place and leave every other byte (key order, number spelling, escapes) exactly as codex wrote
 * it. Meant for text that JSON.parse already accepted; anything unexpected gives `undefined`.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const isWs = (c: number | undefined) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

const skipWs = (buf: Buffer, pos: number, end: number) => {
  while (pos < end && isWs(buf[pos])) pos++
  return pos
}

/** `pos` at an opening quote; returns the index after the closing one, or -1. */
const skipString = (buf: Buffer, pos: number, end: number): number => {
  let i = pos + 1
  for (;;) {
    const q = buf.indexOf(QUOTE, i)
    if (q === -1 || q >= end) return -1
    let j = q - 1
    while (buf[j] === BACKSLASH) j--
    if ((q - 1 - j) % 2 === 0) return q + 1
    i = q + 1
  }
}

/** `pos` at the first byte of a value; returns the index after it, or -1. */
const skipValue = (buf: Buffer, pos: number, end: number): number => {
  const c = buf[pos]
  if (c === QUOTE) return skipString(buf, pos, end)
  if (c === 0x7b || c === 0x5b) {
    let depth = 0
    let i = pos
    while (i < end) {
      const b = buf[i]!
      if (b === QUOTE) {
        i = skipString(buf, i, end)
        if (i === -1) return -1
        continue
      }
      if (b === 0x7b || b === 0x5b) depth++
      else if (b === 0x7d || b === 0x5d) {
        depth--
        if (depth === 0) return i + 1
      }
      i++
    }
    return -1
  }
  let i = pos
  while (i < end) {
    const b = buf[i]
    if (b === 0x2c || b === 0x7d || b === 0x5d || isWs(b)) break
    i++
  }
  return i > pos ? i : -1
}

const keyEquals = (buf: Buffer, start: number, end: number, key: string): boolean => {
  // start/end bound the key's content, without quotes.
  const escape = buf.indexOf(BACKSLASH, start)
  if (escape !== -1 && escape < end) {
    try {
      return JSON.parse(buf.toString("utf8", start - 1, end + 1)) === key
    } catch {
      return false
    }
  }
  if (end - start !== key.length) return false
  for (let i = 0; i < key.length; i++) if (buf[start + i] !== key.charCodeAt(i)) return false
  return true
}

/**
 * Walks the members of the object starting at `pos`, calling `member(keyStart, keyEnd, valueStart,
 * valueEnd)` (key bounds exclude the quotes). Returns false when the text is not a well-formed object.
 */
const members = (
  buf: Buffer,
  pos: number,
  end: number,
  member: (keyStart: number, keyEnd: number, valueStart: number, valueEnd: number) => void
): boolean => {
  if (buf[pos] !== 0x7b) return false
  let i = skipWs(buf, pos + 1, end)
  if (buf[i] === 0x7d) return true
  for (;;) {
    if (buf[i] !== QUOTE) return false
    const keyEnd = skipString(buf, i, end)
    if (keyEnd === -1) return false
    const keyStart = i + 1
    i = skipWs(buf, keyEnd, end)
    if (buf[i] !== 0x3a) return false
    i = skipWs(buf, i + 1, end)
    const valueEnd = skipValue(buf, i, end)
    if (valueEnd === -1) return false
    member(keyStart, keyEnd - 1, i, valueEnd)
    i = skipWs(buf, valueEnd, end)
    if (buf[i] === 0x2c) {
      i = skipWs(buf, i + 1, end)
      continue
    }
    return buf[i] === 0x7d
  }
}

/** In the object starting at `pos`, the span of the last value under `key` (JSON.parse keeps the last). */
const lookup = (buf: Buffer, pos: number, end: number, key: string): readonly [number, number] | undefined => {
  let found: readonly [number, number] | undefined
  const ok = members(buf, pos, end, (ks, ke, vs, ve) => {
    if (keyEquals(buf, ks, ke, key)) found = [vs, ve]
  })
  return ok ? found : undefined
}

const decodeKey = (buf: Buffer, start: number, end: number): string => {
  const escape = buf.indexOf(BACKSLASH, start)
  if (escape === -1 || escape >= end) return buf.toString("utf8", start, end)
  try {
    return JSON.parse(buf.toString("utf8", start - 1, end + 1)) as string
  } catch {
    return buf.toString("utf8", start, end)
  }
}

/**
 * The members of the object in `buf[start, end)` as key → value span (last duplicate wins), or
 * `undefined` when it is not a well-formed object.
 */
export const objectSpans = (
  buf: Buffer,
  start: number,
  end: number
): Map<string, readonly [number, number]> | undefined => {
  const out = new Map<string, readonly [number, number]>()
  const ok = members(buf, skipWs(buf, start, end), end, (ks, ke, vs, ve) => {
    out.set(decodeKey(buf, ks, ke), [vs, ve])
  })
  return ok ? out : undefined
}

/**
 * Span `[start, end)` of the value reached by following object keys `path` from the top-level
 * object in `buf[start, end)`.
 */
export const findValueSpan = (
  buf: Buffer,
  start: number,
  end: number,
  path: ReadonlyArray<string>
): readonly [number, number] | undefined => {
  let span: readonly [number, number] = [skipWs(buf, start, end), end]
  for (const key of path) {
    const next = lookup(buf, span[0], span[1], key)
    if (next === undefined) return undefined
    span = next
  }
  return span
}

import { assert, describe, it } from "@effect/vitest"
import * as written from "../src/internal/written.js"

const location = "localStorage:app:"

describe("the write order of localStorage", () => {
  it("a value carries its write number; one from before 0.7 is number 0, read as it is", () => {
    assert.strictEqual(written.format(17, '{"_tag":"Active"}'), '@17:{"_tag":"Active"}')
    assert.deepStrictEqual(written.parse('@17:{"_tag":"Active"}'), { n: 17, value: '{"_tag":"Active"}' })
    assert.deepStrictEqual(written.parse('{"_tag":"Active"}'), { n: 0, value: '{"_tag":"Active"}' })
    assert.deepStrictEqual(written.parse("not a session"), { n: 0, value: "not a session" })
    assert.deepStrictEqual(written.parse("@:x"), { n: 0, value: "@:x" })
  })

  it("the latest witness of a session is the highest number among the held locks of its name only", () => {
    const held = (names: ReadonlyArray<string>): Array<LockInfo> => names.map((name) => ({ name, mode: "shared" }))
    const of = (key: string, n: number, removed = false) => written.witnessName(location, key, { n, removed })
    assert.deepStrictEqual(
      written.latest(
        held([
          of("alice", 3),
          of("alice", 12, true),
          of("alice", 9),
          of("bob", 40),
          // a key that extends alice's name, and another store's alice
          of("alice:written:99", 99),
          written.witnessName("localStorage:other:", "alice", { n: 50, removed: false }),
          "token-refresher:lock:localStorage:app::alice"
        ]),
        location,
        "alice"
      ),
      { n: 12, removed: true }
    )
    assert.strictEqual(written.latest(held([of("bob", 1)]), location, "alice"), undefined)
  })

  it("a copy shows a write when it holds that number or a later one; a removal, when it holds nothing or a later write", () => {
    assert.isTrue(written.shows("@5:x", { n: 5, removed: false }))
    assert.isTrue(written.shows("@6:x", { n: 5, removed: false }))
    assert.isFalse(written.shows("@4:x", { n: 5, removed: false }))
    assert.isFalse(written.shows(null, { n: 5, removed: false }))
    assert.isTrue(written.shows(null, { n: 5, removed: true }))
    assert.isFalse(written.shows("@5:x", { n: 5, removed: true }))
    assert.isTrue(written.shows("@6:x", { n: 5, removed: true }))
  })
})

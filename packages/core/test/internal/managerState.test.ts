import { assert, describe, it } from "@effect/vitest"
import { Errors, Session, TokenSet } from "@token-refresher/core"
import { DateTime, Option, Redacted } from "effect"
import * as ManagerState from "../../src/internal/managerState.js"

const tokens = (access: string, refresh = "r") =>
  TokenSet.make({ accessToken: access, refreshToken: refresh, expiresAt: 3_600_000, issuedAt: 0 })
const refreshAt = (t: TokenSet.TokenSet) => t.refreshAtMillis("60 seconds")
const error = new Errors.InvalidGrant({ status: 400, description: "revoked" })

describe("ManagerState", () => {
  it("adopt: Active is Fresh until its refresh time, Rejected is Refused, a seed or nothing is Unknown", () => {
    const t = tokens("a")
    const fresh = ManagerState.adopt(Option.some(Session.active(t)), refreshAt)
    assert.strictEqual(fresh._tag, "Fresh")
    assert.isTrue(ManagerState.usableAt(fresh, 3_540_000 - 1))
    assert.isFalse(ManagerState.usableAt(fresh, 3_540_000))
    const rejected = new Session.Rejected({
      refreshToken: Option.some(Redacted.make("r")),
      rejectedAt: DateTime.unsafeMake(0),
      error
    })
    const refused = ManagerState.adopt(Option.some(rejected), refreshAt)
    assert.strictEqual(refused._tag, "Refused")
    assert.strictEqual(ManagerState.adopt(Option.some(Session.seeded("s", 0)), refreshAt)._tag, "Unknown")
    assert.strictEqual(ManagerState.adopt(Option.none(), refreshAt)._tag, "Unknown")
    assert.isFalse(ManagerState.usableAt(refused, 0))
  })

  it("holds: the same tokens (by value, not by reference) or the same refused token; never a seed", () => {
    const fresh = ManagerState.adopt(Option.some(Session.active(tokens("a"))), refreshAt)
    assert.isTrue(ManagerState.holds(fresh, Option.some(Session.active(tokens("a")))))
    assert.isFalse(ManagerState.holds(fresh, Option.some(Session.active(tokens("b")))))
    assert.isFalse(ManagerState.holds(fresh, Option.some(Session.active(tokens("a", "other")))))
    assert.isFalse(ManagerState.holds(fresh, Option.some(Session.seeded("r", 0))))
    assert.isFalse(ManagerState.holds(fresh, Option.none()))
    const refused = ManagerState.State.Refused({ refreshToken: Option.some(Redacted.make("r")), error })
    const stored = (token: string) =>
      Option.some(
        new Session.Rejected({
          refreshToken: Option.some(Redacted.make(token)),
          rejectedAt: DateTime.unsafeMake(0),
          error
        })
      )
    assert.isTrue(ManagerState.holds(refused, stored("r")))
    assert.isFalse(ManagerState.holds(refused, stored("other")))
  })

  it("invalidated: a 401 on the current token makes Fresh Stale; on an older token it changes nothing", () => {
    const fresh = ManagerState.adopt(Option.some(Session.active(tokens("a"))), refreshAt)
    assert.strictEqual(ManagerState.invalidated(fresh, Option.none())._tag, "Stale")
    assert.strictEqual(ManagerState.invalidated(fresh, Option.some(Redacted.make("a")))._tag, "Stale")
    assert.strictEqual(ManagerState.invalidated(fresh, Option.some(Redacted.make("old"))), fresh)
    assert.strictEqual(ManagerState.invalidated(ManagerState.unknown, Option.none()), ManagerState.unknown)
  })

  it("refreshed, then saved: Unsaved until the store holds the tokens; a 401 meanwhile leaves them Stale", () => {
    const t = tokens("new")
    const unsaved = ManagerState.refreshed(t, refreshAt(t))
    assert.strictEqual(unsaved._tag, "Unsaved")
    assert.isFalse(ManagerState.usableAt(unsaved, 0), "not served before it is saved")
    assert.strictEqual(ManagerState.saved(unsaved, t)._tag, "Fresh")
    assert.strictEqual(ManagerState.saved(unsaved, tokens("other")), unsaved, "another write does not count")
    const stale = ManagerState.invalidated(unsaved, Option.none())
    assert.strictEqual(ManagerState.saved(stale, t)._tag, "Stale")
  })
})

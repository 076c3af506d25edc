import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"

TokenStoreContract.suite("memory", {
  setup: TokenStoreContract.memory,
  noOtherProcess: "a memory store lives in one process"
})

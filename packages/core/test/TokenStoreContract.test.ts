import * as TokenStoreContract from "@token-refresher/testing/TokenStoreContract"

TokenStoreContract.suite("memory", { setup: TokenStoreContract.memory })

/** Debian's Chromium (`apt-get install chromium`), driven by playwright; nothing downloads a browser. */
export const chromiumPath: string = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

/** The flags Chromium runs with here: headless, and offline but for loopback. */
export const chromiumArgs: ReadonlyArray<string> = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

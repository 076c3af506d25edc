#!/usr/bin/env bash
# The packing test: what a user installs from npm, tried outside the workspace.
# Packs every package (pnpm pack turns workspace: ranges into versions), installs the tarballs with npm and the pinned
# Effect 3 peers into a scratch project, type-checks every README example with tsc --strict under nodenext (fragments
# after their prelude: see scripts/readme-examples.mjs), runs the README's Spotify refresh example against the fake
# server started from the installed CLI, and checks the installed CLI's --help and --version. Needs the packages built
# (pnpm build) and the npm registry.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/tarballs" "$work/app/examples"
for dir in "$root"/packages/*/; do
  (cd "$dir" && pnpm pack --pack-destination "$work/tarballs" >/dev/null)
done
ls "$work/tarballs"

cd "$work/app"
cat > package.json <<'JSON'
{ "name": "pack-test", "private": true, "type": "module" }
JSON
npm install --no-audit --no-fund --loglevel=error \
  "$work"/tarballs/*.tgz \
  effect@^3.22 @effect/platform@^0.97 @effect/platform-node@^0.108 @effect/sql@^0.52 @effect/sql-pg@^0.53 \
  @effect/sql-sqlite-node@^0.53 ioredis@^5 @effect/vitest@^0.30 vitest@^3.2 typescript@5.9 @types/node@20 \
  @effect/opentelemetry@0.64.1 @opentelemetry/api@1.9.0 @opentelemetry/sdk-metrics@2.12.0 \
  @opentelemetry/resources@2.12.0 @opentelemetry/exporter-prometheus@0.223.0

cat > tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "strict": true,
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "target": "es2022",
    "skipLibCheck": true,
    "types": ["node"],
    "outDir": "dist",
    "rootDir": "examples"
  },
  "include": ["examples"]
}
JSON

node "$root/scripts/readme-examples.mjs" "$root/README.md" examples
npx tsc -p .
echo "every README example compiles under tsc --strict, module nodenext"

echo "--- the installed CLI"
npx token-refresher --help | head -5
installed="$(npx token-refresher --version)"
expected="$(node -p 'require("@token-refresher/cli/package.json").version')"
echo "token-refresher --version: $installed"
[ "$installed" = "$expected" ] || { echo "--version printed $installed, the package is $expected"; exit 1; }

echo "--- the README's Spotify refresh example against the fake server"
# the bin itself (not npx, which would leave its child running when killed)
node_modules/.bin/token-refresher fake-server --port 0 > server.out 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do grep -q "SPOTIFY_REFRESH_TOKEN=" server.out && break; sleep 0.1; done
eval "$(grep '^  export ' server.out | sed 's/^  //')"
examples=(dist/readme-*-refresh-a-spotify-token.js)
[ "${#examples[@]}" = 1 ] && [ -f "${examples[0]}" ] || { echo "no single README section \"Refresh a Spotify token\""; exit 1; }
SPOTIFY_ACCOUNTS_URL="$SPOTIFY_ACCOUNTS_URL" node "${examples[0]}"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
echo "pack test passed"

#!/usr/bin/env bash
# `prepack` of every publishable package (run in its folder by `pnpm pack` and `pnpm publish`): refuse npm,
# which would ship the `workspace:` ranges as they are, then build afresh so a tarball is never stale.
set -euo pipefail
case "${npm_config_user_agent:-}" in
  pnpm/*) ;;
  *)
    echo "pack and publish with pnpm (pnpm pack, pnpm publish): npm would ship \"workspace:\" ranges" >&2
    exit 1
    ;;
esac
rm -rf dist
tsc -b tsconfig.build.json

#!/usr/bin/env bash
# Debian's chromium for the browser tests (tests/test_browser.py drives /usr/bin/chromium
# with Playwright); never a browser download by a test tool. `make test` runs this first.
# Without root (and without passwordless sudo) it only warns: the browser tests then skip.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found and apt-get is unavailable: browser tests will be skipped" >&2
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "chromium not found and cannot be installed here (needs root): browser tests will be skipped" >&2
  echo "fix: sudo apt-get install chromium" >&2
  exit 0
fi
echo "installing Debian chromium for the browser tests"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
if [ -x "$CHROMIUM" ]; then
  "$CHROMIUM" --version 2>/dev/null || true
else
  echo "apt-get installed chromium but $CHROMIUM is missing: browser tests will be skipped" >&2
fi

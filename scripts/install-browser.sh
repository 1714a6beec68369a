#!/usr/bin/env bash
# Install Debian's chromium for the browser test (tests/browser), once; a no-op when /usr/bin/chromium exists.
# Playwright drives it with executable_path=/usr/bin/chromium: no browser is downloaded at test time.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
        echo "install-browser: not root and no sudo: cannot install chromium (the browser test will be skipped)" >&2
        exit 0
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get: cannot install chromium (the browser test will be skipped)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation; }; then
    echo "install-browser: apt-get could not install chromium (the browser test will be skipped)" >&2
fi
exit 0

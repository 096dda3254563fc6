#!/usr/bin/env bash
# Installs what the hotline needs on a fresh Debian machine (run as root): system packages,
# then a virtualenv with the pinned Python dependencies, the engine and its test lab (lab/, the
# sandbox, SIPp and demo: a separate distribution, not part of the engine's wheel). Safe to
# run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium: the real browser the desk's tests drive with Playwright (no browser download);
# fonts-wqy-microhei: Chinese glyphs, so the screenshots of zh articles show text, not boxes;
# dovecot-imapd: the real IMAP server of the e-mail channel's tests (started on loopback by them)
PACKAGES=(mmdebstrap espeak-ng sox mosquitto postgresql sqlite3 iproute2 chromium fonts-wqy-microhei dovecot-imapd)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: these Debian packages are missing: ${missing[*]}; run as root (or install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian packages start their services; the project starts its own on loopback ports.
  systemctl disable --now mosquitto postgresql dovecot >/dev/null 2>&1 || true
  service mosquitto stop >/dev/null 2>&1 || true
  service dovecot stop >/dev/null 2>&1 || true
  service postgresql stop >/dev/null 2>&1 || true
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/python -m pip install -q -e lab
echo "setup: done"

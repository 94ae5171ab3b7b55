#!/usr/bin/env bash
# Installs everything utoe needs on a Debian machine (run as root, or with sudo
# available): the C toolchain from Debian, utoe and its Python dependencies
# from PyPI. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(gcc libc6-dev make)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

PY=${PYTHON:-python3}
$PY -m pip install -q --disable-pip-version-check -e '.[test]'
echo "utoe: set up ($($PY -c 'import utoe, tvm; print("utoe", utoe.__version__, "/ tvm", tvm.__version__)'))"

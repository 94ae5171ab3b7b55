#!/usr/bin/env bash
# Installs everything utoe needs on a Debian machine (run as root, or with sudo
# available): the host and cross C toolchains and QEMU from Debian, utoe and
# its Python dependencies from PyPI, and utoe's QEMU plugin. Safe to run
# again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(gcc libc6-dev make
    gcc-arm-none-eabi libnewlib-arm-none-eabi          # Cortex-M boards
    gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf  # RISC-V boards
    qemu-system-arm qemu-system-misc)                  # their stand-ins
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
$PY -m utoe.icount build >/dev/null  # the TCG plugin, built with the host gcc
echo "utoe: set up ($($PY -c 'import utoe, tvm; print("utoe", utoe.__version__, "/ tvm", tvm.__version__)'))"

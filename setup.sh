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
    qemu-system-arm qemu-system-misc                   # their stand-ins
    chromium chromium-driver)                          # the report's browser test (tests/test_report_browser.py)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# CMSIS-NN (Arm's int8/int16 kernels, called on Cortex-M cores) at a pinned
# commit, in third_party/CMSIS-NN: cloned when the network works, else taken
# from the offline archive next to the project (../shared/vendor).
CMSIS_NN_COMMIT=99f736a63036613032f9b70de36b493bcd7802d4
CMSIS_NN_DIR=third_party/CMSIS-NN
CMSIS_NN_ARCHIVE=../shared/vendor/CMSIS-NN-${CMSIS_NN_COMMIT:0:8}.tar.gz
if [ "$(cat "$CMSIS_NN_DIR/.utoe-commit" 2>/dev/null)" != "$CMSIS_NN_COMMIT" ]; then
    rm -rf "$CMSIS_NN_DIR" "$CMSIS_NN_DIR.tmp"
    mkdir -p third_party
    if timeout 60 git clone -q --no-checkout https://github.com/ARM-software/CMSIS-NN "$CMSIS_NN_DIR.tmp" 2>/dev/null \
            && git -C "$CMSIS_NN_DIR.tmp" -c advice.detachedHead=false checkout -q "$CMSIS_NN_COMMIT"; then
        :
    elif [ -f "$CMSIS_NN_ARCHIVE" ]; then
        rm -rf "$CMSIS_NN_DIR.tmp" && mkdir -p "$CMSIS_NN_DIR.tmp"
        tar xzf "$CMSIS_NN_ARCHIVE" -C "$CMSIS_NN_DIR.tmp" --strip-components=1
    else
        echo "utoe: cannot get CMSIS-NN: no network and no $CMSIS_NN_ARCHIVE" >&2; exit 1
    fi
    echo "$CMSIS_NN_COMMIT" > "$CMSIS_NN_DIR.tmp/.utoe-commit"
    mv "$CMSIS_NN_DIR.tmp" "$CMSIS_NN_DIR"
fi

# RIOT (the OS U-TOE evaluates on real boards) at a pinned commit, in
# third_party/riot/RIOT; utoe builds with it when riotbase=/RIOTBASE are unset
# (utoe.riot.base). Taken from the offline kit when it is beside the project
# (RIOT trimmed to the paper boards, plus the vendor packages RIOT's build
# clones, as local git repos that third_party/riot/gitconfig points git to)
# or when the upstream cannot be reached; else cloned (RIOT's package step
# then fetches the vendor code itself, from the network).
RIOT_COMMIT=c8bd52ff13daea7da132b8a37986e21d47cde0fe
RIOT_DIR=third_party/riot
RIOT_KIT=../shared/vendor/riot-kit-${RIOT_COMMIT:0:10}.tar.gz
RIOT_KIT_SH=../shared/vendor/riot-kit.sh
if [ "$(cat "$RIOT_DIR/.utoe-commit" 2>/dev/null)" != "$RIOT_COMMIT" ]; then
    rm -rf "$RIOT_DIR" "$RIOT_DIR.tmp"
    mkdir -p "$RIOT_DIR.tmp"
    if [ -f "$RIOT_KIT" ] && [ -f "$RIOT_KIT_SH" ]; then
        sh "$RIOT_KIT_SH" install "$RIOT_KIT" "$RIOT_DIR.tmp" >/dev/null
        cp "$RIOT_KIT_SH" "$RIOT_DIR.tmp/riot-kit.sh"
    elif timeout 300 git clone -q --filter=blob:none --no-checkout https://github.com/RIOT-OS/RIOT "$RIOT_DIR.tmp/RIOT" 2>/dev/null \
            && git -C "$RIOT_DIR.tmp/RIOT" -c advice.detachedHead=false checkout -q "$RIOT_COMMIT"; then
        :
    else
        rm -rf "$RIOT_DIR.tmp"
        echo "utoe: cannot get RIOT: no network and no $RIOT_KIT" >&2; exit 1
    fi
    echo "$RIOT_COMMIT" > "$RIOT_DIR.tmp/.utoe-commit"
    mv "$RIOT_DIR.tmp" "$RIOT_DIR"
    # the kit's git configuration names its own directory: rewrite it for the final place
    if [ -f "$RIOT_DIR/riot-kit.sh" ]; then sh "$RIOT_DIR/riot-kit.sh" config "$RIOT_DIR" >/dev/null; fi
fi

PY=${PYTHON:-python3}
$PY -m pip install -q --disable-pip-version-check -e '.[test]'
$PY -m utoe.icount build >/dev/null  # the TCG plugin, built with the host gcc
echo "utoe: set up ($($PY -c 'import utoe, tvm; print("utoe", utoe.__version__, "/ tvm", tvm.__version__)'))"

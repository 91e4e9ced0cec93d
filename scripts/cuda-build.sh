#!/usr/bin/env bash
# Builds patchlens with burn's `cuda` feature without the network at build time and without a CUDA
# toolkit: LLVM 23.1 comes from PyPI, the CUDA driver/NVRTC are loaded at run time.
#
#   scripts/cuda-build.sh                   # cargo build --release -p xtask --features cuda
#   scripts/cuda-build.sh --check           # cargo check -p xtask --features cuda (what CI runs)
#   scripts/cuda-build.sh --setup-only      # only install LLVM (step 1) and print the env of step 2
#   scripts/cuda-build.sh -- ARGS...        # cargo ARGS... instead of the default command, e.g.
#       scripts/cuda-build.sh -- build --release -p patchlens-vit --features cuda --examples
#
# Step 1 (once per machine; a second run finds the marker and does nothing). burn -> burn-cuda ->
# cubecl-cuda -> cubecl-llvm links LLVM through tracel-llvm-bundler, whose build script downloads an
# LLVM archive from GitHub unless `$DATA/tracel/tracel-llvm-<ver>/.tracel-llvm-installed` exists
# ($DATA = $XDG_DATA_HOME or ~/.local/share, the `dirs` crate's data_local_dir on Linux). It then
# runs `<that dir>/bin/llvm-config --link-static --libs|--libdir|--system-libs|--cxxflags`.
# This script downloads the matching static LLVM SDK wheels from PyPI (`mlc-llvm-static` and
# `mlc-llvm-static-extra-targets`, the latter carries the NVPTX backend), unpacks both into
# $DATA/patchlens/mlc-llvm-static-<ver>, links the bundler's directory to its `static/` prefix
# and writes the marker. The SDK's llvm-config is a Python script: `python3` on PATH must be >= 3.10
# whenever cargo (re)runs the build script.
#
# Step 2. cudarc (via cubecl-cuda, feature `cuda-version-from-build-system` + `fallback-latest`)
# asks `nvcc --version` for the CUDA API version to bind. Without nvcc it would fall back to its
# newest (13.4) with a warning; this script sets CUDARC_CUDA_VERSION instead: kept when already set,
# left to nvcc when nvcc is on PATH, else taken from the driver (`nvidia-smi`'s "CUDA Version",
# rounded down to a version cudarc knows), else 12080 (CUDA 12.8, driver >= 570). Driver and NVRTC
# are loaded with dlopen at run time, so no NVIDIA library is needed to build.
#
# Environment:
#   PYTHON                 python with pip used to download the wheels (default: python3)
#   MLC_LLVM_WHEEL_DIR     a folder that already holds both wheels (air-gapped machines: copy the
#                          two .whl files there; nothing is downloaded)
#   MLC_LLVM_VERSION       wheel version (default 23.1.1.post0; must be LLVM 23.1.x)
#   CUDARC_CUDA_VERSION    CUDA API version for cudarc, e.g. 12040, 12080, 13000 (see step 2)
#   CARGO, CARGO_TARGET_DIR, CXX   as usual
set -euo pipefail

die() {
    echo "cuda-build: error: $*" >&2
    exit 1
}
say() { echo "cuda-build: $*"; }

mode=build
setup_only=0
cargo_args=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        --check) mode=check ;;
        --setup-only) setup_only=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        --)
            shift
            cargo_args=("$@")
            break
            ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# ---------------------------------------------------------------------------------------------
# Step 1: LLVM for tracel-llvm-bundler
# ---------------------------------------------------------------------------------------------
[ "$(uname -s)" = Linux ] || die "only Linux is scripted (found $(uname -s)); the bundler's own download works elsewhere"
case "$(uname -m)" in
    x86_64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) die "no mlc-llvm-static wheel for architecture $(uname -m)" ;;
esac

# The bundler version cargo will build decides the directory name (tracel-llvm-<version>).
bundler_version=$(awk '/^name = "tracel-llvm-bundler"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$bundler_version" ] || die "tracel-llvm-bundler not found in Cargo.lock (is burn's cuda feature in the lock file?)"
llvm_major_minor=${bundler_version%.*-*} # 23.1.0-4 -> 23.1

wheel_version=${MLC_LLVM_VERSION:-23.1.1.post0}
case "$wheel_version" in
    "$llvm_major_minor".*) ;;
    *) die "MLC_LLVM_VERSION=$wheel_version is not LLVM $llvm_major_minor.x, which tracel-llvm-bundler $bundler_version needs" ;;
esac

data_home=${XDG_DATA_HOME:-}
case "$data_home" in /*) ;; *) data_home="$HOME/.local/share" ;; esac # dirs ignores a relative XDG_DATA_HOME
tracel_dir="$data_home/tracel/tracel-llvm-$bundler_version"
marker="$tracel_dir/.tracel-llvm-installed"
store="$data_home/patchlens/mlc-llvm-static-$wheel_version"
prefix="$store/mlc_llvm_static/static"

python=${PYTHON:-python3}
command -v python3 >/dev/null 2>&1 || die "python3 (>= 3.10) is not on PATH; the LLVM SDK's llvm-config is a Python script that cargo runs"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "python3 on PATH is $(python3 -c 'import platform; print(platform.python_version())'); the LLVM SDK's llvm-config needs >= 3.10"
command -v "${CXX:-c++}" >/dev/null 2>&1 || die "no C++ compiler '${CXX:-c++}' (cubecl-llvm compiles a C++ shim against LLVM's headers); install g++ or set CXX"

# sha256 of the wheels this script was verified with (x86_64). Other architectures rely on pip's
# check against the index's hashes.
declare -A pinned=(
    ["mlc_llvm_static-23.1.1.post0-py3-none-manylinux_2_28_x86_64.whl"]=dcfec888abfaa418be77d41af585805f31463584cf9c90582992c00f392c1ac5
    ["mlc_llvm_static_extra_targets-23.1.1.post0-py3-none-manylinux_2_28_x86_64.whl"]=c36e834d9a4e9cf9759f27fece65711ece7a2fc2b5a96dbb15d66f5e9e787929
)

if [ -f "$marker" ]; then
    say "LLVM already installed: $tracel_dir (marker present); nothing to do"
else
    if [ -e "$tracel_dir" ] || [ -L "$tracel_dir" ]; then
        if [ "$(readlink "$tracel_dir" 2>/dev/null || true)" != "$prefix" ]; then
            die "$tracel_dir exists without $(basename "$marker") and is not this script's link (a half-finished bundler download?); remove it and rerun"
        fi
    fi
    if [ ! -x "$prefix/bin/llvm-config" ] || [ ! -f "$prefix/share/mlc-llvm-static/extra.json" ]; then
        wheel_dir=${MLC_LLVM_WHEEL_DIR:-"${XDG_CACHE_HOME:-$HOME/.cache}/patchlens/wheels"}
        mkdir -p "$wheel_dir"
        base_whl=$(ls "$wheel_dir"/mlc_llvm_static-"$wheel_version"-*"$arch".whl 2>/dev/null | head -n1 || true)
        extra_whl=$(ls "$wheel_dir"/mlc_llvm_static_extra_targets-"$wheel_version"-*"$arch".whl 2>/dev/null | head -n1 || true)
        if [ -z "$base_whl" ] || [ -z "$extra_whl" ]; then
            [ -z "${MLC_LLVM_WHEEL_DIR:-}" ] || die "MLC_LLVM_WHEEL_DIR=$MLC_LLVM_WHEEL_DIR lacks mlc_llvm_static{,_extra_targets}-$wheel_version-*$arch.whl"
            "$python" -m pip --version >/dev/null 2>&1 || die "'$python -m pip' does not work; set PYTHON to a python with pip, or MLC_LLVM_WHEEL_DIR to a folder holding the two wheels"
            say "downloading mlc-llvm-static==$wheel_version and mlc-llvm-static-extra-targets==$wheel_version (~92 MB) into $wheel_dir"
            pip_log="$wheel_dir/pip-download.log"
            "$python" -m pip download --no-deps --only-binary=:all: \
                --platform "manylinux_2_28_$arch" --python-version 3.10 \
                -d "$wheel_dir" "mlc-llvm-static==$wheel_version" "mlc-llvm-static-extra-targets==$wheel_version" \
                >"$pip_log" 2>&1 ||
                die "pip could not download mlc-llvm-static==$wheel_version from its index (log: $pip_log); without network, set MLC_LLVM_WHEEL_DIR to a folder holding both wheels"
            base_whl=$(ls "$wheel_dir"/mlc_llvm_static-"$wheel_version"-*"$arch".whl | head -n1)
            extra_whl=$(ls "$wheel_dir"/mlc_llvm_static_extra_targets-"$wheel_version"-*"$arch".whl | head -n1)
        fi
        for whl in "$base_whl" "$extra_whl"; do
            want=${pinned[$(basename "$whl")]:-}
            if [ -n "$want" ]; then
                got=$(sha256sum "$whl" | cut -d' ' -f1)
                [ "$got" = "$want" ] || die "$(basename "$whl") has sha256 $got, expected $want"
            fi
        done
        say "unpacking $(basename "$base_whl") and $(basename "$extra_whl") into $store"
        tmp="$store.tmp.$$"
        rm -rf "$tmp"
        mkdir -p "$tmp"
        # Both wheels own disjoint files under mlc_llvm_static/static (the add-on adds the other
        # backends, NVPTX among them, and switches llvm-config's "auto" profile to all targets).
        python3 -m zipfile -e "$base_whl" "$tmp"
        python3 -m zipfile -e "$extra_whl" "$tmp"
        chmod +x "$tmp/mlc_llvm_static/static/bin/llvm-config" "$tmp/mlc_llvm_static/static/bin/llvm-config.py"
        rm -rf "$store"
        mv "$tmp" "$store"
    fi
    # Check the SDK answers what the bundler asks, with NVPTX, before pointing the bundler at it.
    got_version=$("$prefix/bin/llvm-config" --link-static --version) || die "$prefix/bin/llvm-config does not run"
    case "$got_version" in "$llvm_major_minor".*) ;; *) die "$prefix is LLVM $got_version, not $llvm_major_minor.x" ;; esac
    "$prefix/bin/llvm-config" --link-static --libs | grep -q -- -lLLVMNVPTXCodeGen ||
        die "$prefix has no NVPTX backend (mlc-llvm-static-extra-targets missing?)"
    mkdir -p "$(dirname "$tracel_dir")"
    ln -sfn "$prefix" "$tracel_dir"
    touch "$marker"
    say "linked $tracel_dir -> $prefix (LLVM $got_version, $(du -sh "$prefix" | cut -f1)) and wrote $(basename "$marker")"
fi

# ---------------------------------------------------------------------------------------------
# Step 2: the CUDA API version for cudarc, then cargo
# ---------------------------------------------------------------------------------------------
known_cuda="13040 13030 13020 13010 13000 12090 12080 12060 12050 12040 12030 12020 12010 12000 11080 11070 11060 11050 11040"
if [ -n "${CUDARC_CUDA_VERSION:-}" ]; then
    case " $known_cuda " in *" $CUDARC_CUDA_VERSION "*) ;; *) die "CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION is not one of: $known_cuda" ;; esac
    say "CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION (from the environment)"
elif command -v nvcc >/dev/null 2>&1; then
    say "nvcc found ($(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')); cudarc takes the CUDA version from it"
else
    driver_cuda=""
    if command -v nvidia-smi >/dev/null 2>&1; then
        driver_cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -n1 || true)
    fi
    if [ -n "$driver_cuda" ]; then
        read -r dmaj dmin <<<"$driver_cuda"
        want=$((dmaj * 1000 + dmin * 10))
        for v in $known_cuda; do
            if [ "$v" -le "$want" ]; then
                export CUDARC_CUDA_VERSION=$v
                break
            fi
        done
        [ -n "${CUDARC_CUDA_VERSION:-}" ] || die "the driver's CUDA $dmaj.$dmin is older than cudarc's oldest (11.4)"
        say "CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION (no nvcc; the driver reports CUDA $dmaj.$dmin)"
    else
        export CUDARC_CUDA_VERSION=12080
        say "CUDARC_CUDA_VERSION=12080 (no nvcc, no nvidia-smi: CUDA 12.8 API, needs an NVIDIA driver >= 570 at run time; set it to build for another)"
    fi
fi

if [ "$setup_only" = 1 ]; then
    [ -z "${CUDARC_CUDA_VERSION:-}" ] || echo "export CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION"
    exit 0
fi

if [ "${#cargo_args[@]}" -eq 0 ]; then
    if [ "$mode" = check ]; then
        cargo_args=(check -p xtask --features cuda)
    else
        cargo_args=(build --release -p xtask --features cuda)
    fi
fi
cargo=${CARGO:-cargo}
command -v "$cargo" >/dev/null 2>&1 || die "cargo not found (install Rust, see rust-toolchain / rust-version in Cargo.toml)"
say "running: $cargo ${cargo_args[*]}"
start=$(date +%s)
"$cargo" "${cargo_args[@]}"
say "cargo finished in $(($(date +%s) - start)) s"

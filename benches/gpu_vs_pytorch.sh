#!/usr/bin/env bash
# patchlens on GPU vs PyTorch, one command: builds the Rust examples, then runs
# benches/gpu_vs_pytorch.py (its docstring says exactly what is timed) and prints the table.
#
#   benches/gpu_vs_pytorch.sh [--out DIR]            # NVIDIA machine: cuda + wgpu, ViT-S/16 and ViT-B/16
#                                                    # at batch 64 and 256, 1-NN 50k x 200k x 768
#   benches/gpu_vs_pytorch.sh --smoke [--out DIR]    # no GPU needed: tiny sizes, PyTorch on CPU,
#                                                    # patchlens on flex (add --features wgpu and
#                                                    # --backends flex wgpu for a software Vulkan device)
#   benches/gpu_vs_pytorch.sh --dry-run [--smoke]    # print the build and run commands, run nothing
#
# Options (the rest is passed to benches/gpu_vs_pytorch.py, e.g. --iters 50 --batches 64
# --models dino_vits16 --bf16-mode autocast --no-knn --backends cuda):
#   --features LIST   cargo features of patchlens-vit / patchlens-eval (default cuda,wgpu; smoke: none)
#   --skip-build      use the binaries already in $CARGO_TARGET_DIR/release/examples
#
# Needs: Rust (cargo), a python (PYTHON, default python3) with torch (a CUDA build for the full run),
# timm and numpy. With the `cuda` feature the LLVM setup of scripts/cuda-build.sh runs first (once per
# machine; needs PyPI or MLC_LLVM_WHEEL_DIR the first time). The patchlens backends default to the
# built features (cuda -> cuda, wgpu -> wgpu, neither -> flex).
set -euo pipefail

die() {
    echo "gpu_vs_pytorch: error: $*" >&2
    exit 1
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

smoke=0
dry_run=0
skip_build=0
features=unset
has_backends=0
py_args=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        --smoke) smoke=1 ; py_args+=("$1") ;;
        --dry-run) dry_run=1 ; py_args+=("$1") ;;
        --skip-build) skip_build=1 ;;
        --features)
            [ "$#" -ge 2 ] || die "--features needs a value (e.g. cuda,wgpu or '')"
            features=$2
            shift
            ;;
        --features=*) features=${1#--features=} ;;
        --backends) has_backends=1 ; py_args+=("$1") ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) py_args+=("$1") ;;
    esac
    shift
done
if [ "$features" = unset ]; then
    if [ "$smoke" = 1 ]; then features=""; else features="cuda,wgpu"; fi
fi

python=${PYTHON:-python3}
target=${CARGO_TARGET_DIR:-$root/target}
bin_dir="$target/release/examples"

# Qualified features, only where the package declares them (patchlens-eval may lack a feature).
qualified=()
backends=()
IFS=',' read -r -a feature_list <<<"$features"
for f in "${feature_list[@]}"; do
    [ -n "$f" ] || continue
    case "$f" in cuda | wgpu) backends+=("$f") ;; esac
    found=0
    for pkg in vit:patchlens-vit eval:patchlens-eval; do
        dir=${pkg%%:*}
        name=${pkg#*:}
        if grep -Eq "^$f *=" "crates/$dir/Cargo.toml"; then
            qualified+=("$name/$f")
            found=1
        fi
    done
    [ "$found" = 1 ] || die "feature '$f' is declared by neither crates/vit nor crates/eval"
done
[ "${#backends[@]}" -gt 0 ] || backends=(flex)
[ "$has_backends" = 1 ] || py_args+=(--backends "${backends[@]}")

examples=(--example bench_forward)
if [ -f crates/eval/examples/knn_device.rs ]; then
    examples+=(--example knn_device)
else
    echo "gpu_vs_pytorch: note: crates/eval/examples/knn_device.rs does not exist; patchlens' 1-NN is recorded as 'not built'" >&2
fi
feature_arg=()
if [ "${#qualified[@]}" -gt 0 ]; then
    feature_arg=(--features "$(IFS=,; echo "${qualified[*]}")")
fi
cargo_args=(build --release -p patchlens-vit -p patchlens-eval "${examples[@]}" "${feature_arg[@]}")

build_s=null
if [ "$skip_build" = 0 ]; then
    if [[ ",$features," == *",cuda,"* ]]; then
        cmd=(scripts/cuda-build.sh -- "${cargo_args[@]}")
    else
        cmd=("${CARGO:-cargo}" "${cargo_args[@]}")
    fi
    if [ "$dry_run" = 1 ]; then
        echo "+ ${cmd[*]}"
    else
        echo "gpu_vs_pytorch: building: ${cmd[*]}" >&2
        start=$(date +%s)
        "${cmd[@]}" || die "the build failed (command above)"
        build_s=$(($(date +%s) - start))
    fi
fi
[ "$dry_run" = 1 ] || [ -x "$bin_dir/bench_forward" ] || die "$bin_dir/bench_forward was not built"
command -v "$python" >/dev/null 2>&1 || die "no python '$python' (set PYTHON to one with torch, timm, numpy)"

# The CUDA API version cudarc was built for (set by cuda-build.sh when it chose it) goes in the record.
if [[ ",$features," == *",cuda,"* ]] && [ -z "${CUDARC_CUDA_VERSION:-}" ] && [ "$dry_run" = 0 ]; then
    CUDARC_CUDA_VERSION=$(scripts/cuda-build.sh --setup-only 2>/dev/null | sed -n 's/^export CUDARC_CUDA_VERSION=//p' || true)
    export CUDARC_CUDA_VERSION
fi
info="{\"features\": \"$features\", \"build_seconds\": $build_s, \"bin_dir\": \"$bin_dir\"}"
if [ "$dry_run" = 1 ]; then
    echo "+ $python benches/gpu_vs_pytorch.py --bin-dir $bin_dir ${py_args[*]}"
fi
exec "$python" benches/gpu_vs_pytorch.py --bin-dir "$bin_dir" --build-info "$info" "${py_args[@]}"

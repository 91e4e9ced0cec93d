#!/usr/bin/env python3
"""Exact k-NN throughput: patchlens-probe (host path) vs faiss-cpu IndexFlatIP, same data, same run.

Default shapes: 10k queries x 50k gallery x 384-d, top-20, inner product (the study's similarity).
Both sides are timed on the same machine in alternation (best of --repeats each), with the same
number of threads, and the neighbour lists are compared.

Usage (from the workspace root; needs `pip install faiss-cpu numpy`):
    python3 benches/knn_vs_faiss.py [--profile release|dev] [--threads 2] [--repeats 3]

Prints the ratio throughput(ours) / throughput(faiss); > 1 means patchlens is faster.
The Rust side is `crates/probe/examples/knn_bench.rs`; its load time is not timed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ng", type=int, default=50_000)
    ap.add_argument("--nq", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="alternating faiss/ours rounds")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--profile", default="release", choices=["release", "dev"])
    args = ap.parse_args()

    import faiss  # noqa: E402  (after argparse so --help works without faiss)

    rng = np.random.default_rng(0)
    g = rng.uniform(-1, 1, size=(args.ng, args.dim)).astype(np.float32)
    q = rng.uniform(-1, 1, size=(args.nq, args.dim)).astype(np.float32)

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cargo = ["cargo", "build", "-q", "-p", "patchlens-probe", "--example", "knn_bench"]
    if args.profile == "release":
        # The bench profile (release settings); shares target/release with `cargo bench`.
        cargo += ["--profile", "bench"]
    subprocess.run(cargo, cwd=root, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    exe = os.path.join(target, "release" if args.profile == "release" else "debug", "examples", "knn_bench")

    faiss.omp_set_num_threads(args.threads)
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))

    with tempfile.TemporaryDirectory() as tmp:
        gp, qp, op = (os.path.join(tmp, n) for n in ("g.f32", "q.f32", "out.u32"))
        g.tofile(gp)
        q.tofile(qp)

        def run_ours():
            out = subprocess.run(
                [exe, gp, qp, str(args.ng), str(args.nq), str(args.dim), str(args.k), str(args.repeats), op],
                env=env, check=True, capture_output=True, text=True,
            ).stdout
            return json.loads(out.strip().splitlines()[-1])["seconds"]

        index = faiss.IndexFlatIP(args.dim)
        index.add(g)

        def run_faiss():
            best = float("inf")
            res = None
            for _ in range(args.repeats):
                t = time.perf_counter()
                res = index.search(q, args.k)
                best = min(best, time.perf_counter() - t)
            return best, res

        t_ours, t_faiss = float("inf"), float("inf")
        fres = None
        for _ in range(args.rounds):
            tf, fres = run_faiss()
            t_faiss = min(t_faiss, tf)
            t_ours = min(t_ours, run_ours())
        ours = np.fromfile(op, dtype=np.uint32).reshape(args.nq, args.k).astype(np.int64)

    fi = fres[1]
    top1 = float((ours[:, 0] == fi[:, 0]).mean())
    recall = float(np.mean([len(set(a) & set(b)) / args.k for a, b in zip(ours, fi)]))
    ratio = t_faiss / t_ours
    print(json.dumps({
        "shape": f"{args.nq} queries x {args.ng} gallery x {args.dim}-d, top-{args.k}",
        "threads": args.threads,
        "profile": args.profile,
        "faiss_version": faiss.__version__,
        "faiss_seconds": round(t_faiss, 4),
        "ours_seconds": round(t_ours, 4),
        "faiss_qps": round(args.nq / t_faiss, 1),
        "ours_qps": round(args.nq / t_ours, 1),
        "ratio_ours_over_faiss": round(ratio, 3),
        "top1_agreement": top1,
        "recall_at_k_vs_faiss": recall,
    }, indent=1))
    return 0 if recall > 0.999 else 1


if __name__ == "__main__":
    sys.exit(main())

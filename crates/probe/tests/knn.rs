//! k-NN: hand-worked examples, blocked vs naive agreement, device path, numpy reference.

use patchlens_probe::knn::{
    self, BlockPlan, HostKernel, KnnConfig, Neighbours, SearchConfig, Similarity, Vote, search,
    search_naive, search_on_device, search_with_kernel, search_with_plan,
};
use patchlens_probe::{MatRef, ProbeError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Gallery of the hand-worked examples (dim 2). Rows 0 and 3 are identical.
const G: [f32; 10] = [1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 1.0, 0.0, -1.0, -1.0];
const LABELS: [u32; 5] = [0, 1, 2, 0, 1];

fn g() -> MatRef<'static> {
    MatRef::new(&G, 5, 2).unwrap()
}

fn cfg(k: usize, similarity: Similarity) -> SearchConfig {
    SearchConfig {
        k,
        similarity,
        ..SearchConfig::default()
    }
}

fn plan(qb: usize, gb: usize) -> BlockPlan {
    BlockPlan {
        query_block: qb,
        gallery_block: gb,
        concurrent: 1,
        working_bytes: 0,
    }
}

/// Runs the host path with several plans plus the naive reference and the flex device path,
/// and checks that all agree on indices and similarities.
fn all_paths(gal: MatRef<'_>, q: MatRef<'_>, k: usize, sim: Similarity) -> Neighbours {
    let reference = search(gal, q, &cfg(k, sim)).unwrap();
    for (qb, gb) in [(1, 1), (1, 2), (2, 3), (64, 4096)] {
        let other = search_with_plan(gal, q, k, sim, &plan(qb, gb)).unwrap();
        assert_eq!(other.indices, reference.indices, "plan {qb}x{gb}");
        assert_eq!(other.similarities, reference.similarities);
    }
    let naive = search_naive(gal, q, k, sim).unwrap();
    assert_eq!(naive.indices, reference.indices, "naive");
    let dev = search_on_device(&burn::tensor::Device::flex(), gal, q, &cfg(k, sim)).unwrap();
    assert_eq!(dev.indices, reference.indices, "device");
    for ((a, b), c) in reference
        .similarities
        .iter()
        .zip(&naive.similarities)
        .zip(&dev.similarities)
    {
        assert!((a - b).abs() < 1e-6 && (a - c).abs() < 1e-6);
    }
    reference
}

#[test]
fn hand_worked_dot_with_tie() {
    // q = (1, 0): dots 1, 0, 2, 1, −1 → g2 (2), then g0 and g3 tie at 1: g0 (lower index) first.
    let q = [1.0f32, 0.0];
    let nb = all_paths(g(), MatRef::new(&q, 1, 2).unwrap(), 5, Similarity::Dot);
    assert_eq!(nb.indices, vec![2, 0, 3, 1, 4]);
    assert_eq!(nb.similarities, vec![2.0, 1.0, 1.0, 0.0, -1.0]);
}

#[test]
fn hand_worked_cosine_three_way_tie() {
    // q = (1, 0): cosines 1, 0, 1, 1, −1/√2 → g0, g2, g3 all at 1 (index order), g1, g4.
    let q = [1.0f32, 0.0];
    let nb = all_paths(g(), MatRef::new(&q, 1, 2).unwrap(), 5, Similarity::Cosine);
    assert_eq!(nb.indices, vec![0, 2, 3, 1, 4]);
    let want = [1.0, 1.0, 1.0, 0.0, -std::f32::consts::FRAC_1_SQRT_2];
    for (a, b) in nb.similarities.iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

#[test]
fn hand_worked_neg_l2() {
    // q = (0, 2): distances √5, 1, √8, √5, √10 → g1, g0, g3 (tie, index order), g2, g4.
    let q = [0.0f32, 2.0];
    let nb = all_paths(g(), MatRef::new(&q, 1, 2).unwrap(), 5, Similarity::NegL2);
    assert_eq!(nb.indices, vec![1, 0, 3, 2, 4]);
    let want = [
        -1.0f32,
        -(5f32.sqrt()),
        -(5f32.sqrt()),
        -(8f32.sqrt()),
        -(10f32.sqrt()),
    ];
    for (a, b) in nb.similarities.iter().zip(want) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn hand_worked_votes() {
    let q = [1.0f32, 0.0];
    let qm = MatRef::new(&q, 1, 2).unwrap();
    let dot3 = search(g(), qm, &cfg(3, Similarity::Dot)).unwrap();
    // Neighbours g2 (s=2, label 2), g0 (1, label 0), g3 (1, label 0).
    let v = |nb: &Neighbours, rule, sim| knn::vote(nb, &LABELS, 3, rule, sim).unwrap()[0];
    assert_eq!(v(&dot3, Vote::Nearest, Similarity::Dot), 2);
    assert_eq!(v(&dot3, Vote::Majority, Similarity::Dot), 0); // 2 votes vs 1
    // Weighted: class 2 = 2, class 0 = 1 + 1 = 2 → tie → class of the best neighbour (2).
    assert_eq!(v(&dot3, Vote::Weighted, Similarity::Dot), 2);
    // Softmax T = 1: class 2 = e⁰ = 1, class 0 = 2e⁻¹ ≈ 0.736 → 2.
    // Softmax T = 10: class 0 = 2e^(−0.1) ≈ 1.81 > 1 → 0.
    assert_eq!(
        v(&dot3, Vote::Softmax { temperature: 1.0 }, Similarity::Dot),
        2
    );
    assert_eq!(
        v(&dot3, Vote::Softmax { temperature: 10.0 }, Similarity::Dot),
        0
    );
    // DINO's T = 0.07 is effectively 1-NN here.
    let dino = Vote::Softmax {
        temperature: knn::DINO_TEMPERATURE,
    };
    assert_eq!(v(&dot3, dino, Similarity::Dot), 2);
    // Majority tie with k = 2 (labels 2 and 0, one vote each) → best neighbour's class, 2.
    let dot2 = dot3.truncated(2).unwrap();
    assert_eq!(v(&dot2, Vote::Majority, Similarity::Dot), 2);

    // Negative L2, q = (0, 2), k = 3: g1 (d=1, label 1), g0 (√5, 0), g3 (√5, 0).
    let q2 = [0.0f32, 2.0];
    let l2 = search(
        g(),
        MatRef::new(&q2, 1, 2).unwrap(),
        &cfg(3, Similarity::NegL2),
    )
    .unwrap();
    assert_eq!(v(&l2, Vote::Majority, Similarity::NegL2), 0);
    // Inverse distance: class 1 = 1, class 0 = 2/√5 ≈ 0.894 → 1.
    assert_eq!(v(&l2, Vote::Weighted, Similarity::NegL2), 1);

    // Cosine, q = (1, 0), k = 3: g0, g2, g3 all at cosine 1 (labels 0, 2, 0).
    let cos = search(g(), qm, &cfg(3, Similarity::Cosine)).unwrap();
    assert_eq!(v(&cos, Vote::Nearest, Similarity::Cosine), 0);
    assert_eq!(v(&cos, Vote::Weighted, Similarity::Cosine), 0); // 2 vs 1
}

#[test]
fn classify_end_to_end_is_one_nn_dot_by_default() {
    let q = [1.0f32, 0.0, 0.0, 2.0, -3.0, -2.0];
    let qm = MatRef::new(&q, 3, 2).unwrap();
    let pred = knn::classify(g(), &LABELS, qm, 3, &KnnConfig::default()).unwrap();
    // (1,0) → g2 (label 2); (0,2) → dots 0,2,0,0,−2 → g1 (label 1);
    // (−3,−2) → dots −3,−2,−6,−3,5 → g4 (label 1).
    assert_eq!(pred, vec![2, 1, 1]);
}

#[test]
fn many_duplicates_lowest_indices_win_for_any_blocking() {
    // 40 rows; rows 7..40 identical and best. Top-5 must be 7, 8, 9, 10, 11.
    let mut gal = vec![0.0f32; 40 * 3];
    for r in 0..40 {
        let v = if r >= 7 {
            [1.0, 2.0, 3.0]
        } else {
            [0.0, 0.5, 0.5]
        };
        gal[r * 3..r * 3 + 3].copy_from_slice(&v);
    }
    let q = [1.0f32, 1.0, 1.0, 0.5, 0.5, 0.5];
    let gm = MatRef::new(&gal, 40, 3).unwrap();
    let qm = MatRef::new(&q, 2, 3).unwrap();
    for sim in [Similarity::Dot, Similarity::Cosine, Similarity::NegL2] {
        for (qb, gb) in [(1, 1), (1, 3), (2, 8), (2, 64)] {
            let nb = search_with_plan(gm, qm, 5, sim, &plan(qb, gb)).unwrap();
            if sim == Similarity::NegL2 {
                // For q = (.5,.5,.5) the rows (0,.5,.5) are nearer: rows 0..5.
                assert_eq!(nb.indices_of(1), &[0, 1, 2, 3, 4]);
            } else {
                assert_eq!(nb.indices_of(0), &[7, 8, 9, 10, 11], "{sim:?} {qb}x{gb}");
                assert_eq!(nb.indices_of(1), &[7, 8, 9, 10, 11]);
            }
        }
    }
}

fn random(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..rows * cols)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect()
}

/// Compares a blocked result with the naive reference. Indices must agree except where two
/// reference similarities are within `tol` of each other (near-ties can legitimately swap
/// under a different summation order).
fn assert_agrees(got: &Neighbours, want: &Neighbours, tol: f32) {
    assert_eq!(got.k, want.k);
    for q in 0..want.n_queries {
        let (gi, gs) = (got.indices_of(q), got.similarities_of(q));
        let (wi, ws) = (want.indices_of(q), want.similarities_of(q));
        for r in 0..want.k {
            assert!(
                (gs[r] - ws[r]).abs() <= tol * (1.0 + ws[r].abs()),
                "q{q} r{r}: {} vs {}",
                gs[r],
                ws[r]
            );
            if gi[r] != wi[r] {
                let near_tie = (r > 0 && (ws[r] - ws[r - 1]).abs() <= tol * (1.0 + ws[r].abs()))
                    || (r + 1 < want.k && (ws[r] - ws[r + 1]).abs() <= tol * (1.0 + ws[r].abs()));
                assert!(near_tie, "q{q} r{r}: index {} vs {}", gi[r], wi[r]);
            }
        }
    }
}

#[test]
fn blocked_matches_naive_on_random_data_for_many_block_sizes() {
    let (ng, nq, d, k) = (300, 37, 17, 7);
    let gal = random(ng, d, 1);
    let q = random(nq, d, 2);
    let gm = MatRef::new(&gal, ng, d).unwrap();
    let qm = MatRef::new(&q, nq, d).unwrap();
    for sim in [Similarity::Dot, Similarity::Cosine, Similarity::NegL2] {
        let want = search_naive(gm, qm, k, sim).unwrap();
        for qb in [1, 3, 8, 37, 256] {
            for gb in [1, 5, 7, 64, 299, 300, 4096] {
                let got = search_with_plan(gm, qm, k, sim, &plan(qb, gb)).unwrap();
                assert_agrees(&got, &want, 1e-5);
            }
        }
        // Budget-derived plans, including a tiny one.
        let threads = rayon::current_num_threads();
        let tiny = threads * (knn::GEMM_SCRATCH_BYTES + 4 * 8 * 64);
        for budget in [knn::GEMM_SCRATCH_BYTES * 64, tiny] {
            let c = SearchConfig {
                k,
                similarity: sim,
                memory_budget_bytes: budget,
            };
            assert_agrees(&search(gm, qm, &c).unwrap(), &want, 1e-5);
        }
        // Device path with budgets that force several gallery chunks and query blocks.
        let lists = 12 * qm.rows() * k;
        for budget in [
            lists + 4 * (2 * d + 2) + 48 * k,
            lists + 4 * (20 * d + 100) + 48 * k,
            1 << 20,
        ] {
            let c = SearchConfig {
                k,
                similarity: sim,
                memory_budget_bytes: budget,
            };
            let got = search_on_device(&burn::tensor::Device::flex(), gm, qm, &c).unwrap();
            assert_agrees(&got, &want, 1e-5);
        }
    }
}

/// The fused kernel (AVX-512) against the `gemm` tiles + scan: the same neighbours and the same
/// similarities, bit for bit, for every similarity, short and heap-kept lists, depths on both sides of
/// its limits (3..=512), query counts and gallery sizes that leave partial register panels, and tiles
/// on both sides of `gemm`'s small-tile kernels (which keep the gemm path). Random values, and small
/// integers (exact sums: many exact ties, so the lower-index rule is exercised).
#[test]
fn fused_kernel_gives_the_gemm_scores_bit_for_bit() {
    if !HostKernel::fused_available() {
        println!("SKIP fused_kernel_gives_the_gemm_scores_bit_for_bit: this CPU has no AVX-512F");
        return;
    }
    let (ng, nq) = (1013, 75);
    for d in [3, 16, 37, 192, 384, 512, 513] {
        for ties in [false, true] {
            let (gal, q) = if ties {
                let mut rng = ChaCha8Rng::seed_from_u64(d as u64);
                let mut int = |n: usize| -> Vec<f32> {
                    (0..n).map(|_| rng.random_range(-2i32..=2) as f32).collect()
                };
                (int(ng * d), int(nq * d))
            } else {
                (random(ng, d, 10 + d as u64), random(nq, d, 20 + d as u64))
            };
            let gm = MatRef::new(&gal, ng, d).unwrap();
            let qm = MatRef::new(&q, nq, d).unwrap();
            // (75, 1013): one tile; (64, 600): partial tiles; (2, 129): 258 scores (fused);
            // (16, 16) and (1, 300): gemm's horizontal and matrix-vector kernels (gemm path).
            for (qb, gb) in [(75, 1013), (64, 600), (2, 129), (16, 16), (1, 300)] {
                for sim in [Similarity::Dot, Similarity::Cosine, Similarity::NegL2] {
                    for k in [1, 5, 40] {
                        let p = plan(qb, gb);
                        let fused =
                            search_with_kernel(gm, qm, k, sim, &p, HostKernel::Fused).unwrap();
                        let gemm =
                            search_with_kernel(gm, qm, k, sim, &p, HostKernel::Gemm).unwrap();
                        let what = format!("d {d} ties {ties} tile {qb}x{gb} {sim:?} k {k}");
                        assert_eq!(fused.indices, gemm.indices, "{what}");
                        let bits = |n: &Neighbours| -> Vec<u32> {
                            n.similarities.iter().map(|v| v.to_bits()).collect()
                        };
                        assert_eq!(bits(&fused), bits(&gemm), "{what}");
                    }
                }
            }
        }
    }
}

#[test]
fn matches_numpy_reference() {
    let path = patchlens_testutil::fixture("probe/reference.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mat = |v: &serde_json::Value| -> (Vec<f32>, usize, usize) {
        let data = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        (
            data,
            v["rows"].as_u64().unwrap() as usize,
            v["cols"].as_u64().unwrap() as usize,
        )
    };
    let knn_ref = &r["knn"];
    let (gd, gr, gc) = mat(&knn_ref["gallery"]);
    let (qd, qr, qc) = mat(&knn_ref["queries"]);
    let gm = MatRef::new(&gd, gr, gc).unwrap();
    let qm = MatRef::new(&qd, qr, qc).unwrap();
    let k = knn_ref["k"].as_u64().unwrap() as usize;
    for (name, sim) in [
        ("dot", Similarity::Dot),
        ("cosine", Similarity::Cosine),
        ("negl2", Similarity::NegL2),
    ] {
        let nb = search(gm, qm, &cfg(k, sim)).unwrap();
        let want_i: Vec<u32> = knn_ref[name]["indices"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
            })
            .collect();
        let want_s: Vec<f64> = knn_ref[name]["similarities"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect();
        assert_eq!(nb.indices, want_i, "{name}");
        for (a, b) in nb.similarities.iter().zip(&want_s) {
            assert!(
                (*a as f64 - b).abs() < 1e-5 * (1.0 + b.abs()),
                "{name}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let q = [1.0f32, 0.0];
    let qm = MatRef::new(&q, 1, 2).unwrap();
    assert!(matches!(
        MatRef::new(&q, 2, 2),
        Err(ProbeError::BufferLength { .. })
    ));
    assert!(matches!(
        search(g(), qm, &cfg(6, Similarity::Dot)),
        Err(ProbeError::InvalidParam { name: "k", .. })
    ));
    let q3 = [1.0f32, 0.0, 0.0];
    assert!(matches!(
        search(
            g(),
            MatRef::new(&q3, 1, 3).unwrap(),
            &cfg(1, Similarity::Dot)
        ),
        Err(ProbeError::DimMismatch { .. })
    ));
    let nan = [f32::NAN, 0.0];
    assert!(matches!(
        search(
            g(),
            MatRef::new(&nan, 1, 2).unwrap(),
            &cfg(1, Similarity::Dot)
        ),
        Err(ProbeError::NonFinite { row: 0, col: 0, .. })
    ));
    let small = SearchConfig {
        memory_budget_bytes: 1000,
        ..SearchConfig::default()
    };
    assert!(matches!(
        search(g(), qm, &small),
        Err(ProbeError::BudgetTooSmall { .. })
    ));
    let nb = search(g(), qm, &cfg(1, Similarity::Dot)).unwrap();
    assert!(matches!(
        knn::vote(&nb, &[0, 1, 9, 0, 1], 3, Vote::Nearest, Similarity::Dot),
        Err(ProbeError::LabelRange {
            row: 2,
            label: 9,
            ..
        })
    ));
    assert!(matches!(
        knn::vote(
            &nb,
            &LABELS,
            3,
            Vote::Softmax { temperature: 0.0 },
            Similarity::Dot
        ),
        Err(ProbeError::InvalidParam { .. })
    ));
}

#[test]
fn plans_respect_the_budget_at_cityscapes_scale() {
    // Protocol §4 A.1: 451,584 gallery patches, 188,160 queries, D = 768.
    let (ng, nq, d) = (451_584, 188_160, 768);
    let gallery_bytes = ng * d * 4;
    for budget in [64 << 20, 256 << 20, 1 << 30] {
        let p = knn::plan_host(ng, nq, 2, budget).unwrap();
        assert!(p.working_bytes <= budget);
        // Everything the host path allocates: output (k = 1) + norms + tiles.
        let extra = nq * 8 + ng * 4 + p.working_bytes;
        assert!(extra <= gallery_bytes / 2 + budget);
        let p = knn::plan_device(ng, nq, d, 1, budget).unwrap();
        assert!(p.working_bytes <= budget, "{p:?}");
        assert!(p.gallery_block >= 1 && p.query_block >= 1);
    }
}

/// The first wgpu device of this machine (CI: lavapipe), or a skip line outside CI.
#[cfg(feature = "wgpu")]
fn wgpu() -> Option<burn::tensor::Device> {
    patchlens_testutil::required_device("a wgpu (Vulkan) device", || {
        burn::tensor::Device::enumerate(burn::tensor::DeviceType::Wgpu)
            .to_vec()
            .into_iter()
            .next()
            .ok_or("burn lists no wgpu adapter")
    })
}

/// Issue #14: scores and top-k on a wgpu device give the host's neighbours on a seeded random problem
/// (near-ties aside: the device GEMM sums in another order), with one gallery block and with budgets
/// that force several gallery blocks (device-side merges) and query blocks.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_top_k_matches_the_host() {
    let Some(gpu) = wgpu() else { return };
    let (ng, nq, d) = (3000, 200, 48);
    let gal = random(ng, d, 11);
    let q = random(nq, d, 12);
    let gm = MatRef::new(&gal, ng, d).unwrap();
    let qm = MatRef::new(&q, nq, d).unwrap();
    for sim in [Similarity::Dot, Similarity::Cosine, Similarity::NegL2] {
        for k in [1, 5, 40] {
            let want = search(gm, qm, &cfg(k, sim)).unwrap();
            let lists = 12 * nq * k;
            for budget in [
                knn::DEFAULT_DEVICE_MEMORY_BUDGET,
                lists + 4 * (700 * d + 64 * d + 2 * 64 * 700) + 48 * 64 * k,
            ] {
                let c = SearchConfig {
                    k,
                    similarity: sim,
                    memory_budget_bytes: budget,
                };
                let p = knn::plan_device(ng, nq, d, k, budget).unwrap();
                let got = search_on_device(&gpu, gm, qm, &c).unwrap();
                assert_agrees(&got, &want, 1e-4);
                eprintln!(
                    "{sim:?} k={k}: {} gallery block(s) of {}, query blocks of {}: same neighbours",
                    ng.div_ceil(p.gallery_block),
                    p.gallery_block,
                    p.query_block
                );
            }
        }
    }
}

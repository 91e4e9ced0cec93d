//! Agreement with the reference implementations, on the fixtures made by
//! `fixtures/metrics/gen_metrics_fixtures.py` (see `fixtures/metrics/README.md`).

use std::path::PathBuf;

use patchlens_metrics::davis::{self, Mask};
use patchlens_metrics::*;
use serde_json::Value;

const TOL: f64 = 1e-6;

fn fx(rel: &str) -> PathBuf {
    patchlens_testutil::fixture(&format!("metrics/{rel}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fx(rel)).expect("fixture readable"))
        .expect("fixture is JSON")
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= TOL, "{what}: got {a}, expected {b}");
}

/// `None` in the JSON is NaN.
fn close_nan(a: f64, b: &Value, what: &str) {
    match b.as_f64() {
        None => assert!(a.is_nan(), "{what}: got {a}, expected NaN"),
        Some(b) => close(a, b, what),
    }
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn matrix_for(space: &LabelSpace, exp: &Value) -> ConfusionMatrix {
    let mut cm = ConfusionMatrix::new(space);
    for img in exp["images"].as_array().unwrap() {
        let pred = read_label_png(&fx(img["pred"].as_str().unwrap())).unwrap();
        let gt = read_label_png(&fx(img["gt"].as_str().unwrap())).unwrap();
        cm.accumulate_maps(&pred, &gt).unwrap();
    }
    cm
}

#[test]
fn cityscapes_matches_cityscapesscripts() {
    let exp = json("cityscapes_expected.json");
    let space = LabelSpace::cityscapes();
    let cm = matrix_for(&space, &exp);
    let s = cm.scores();
    for (c, name) in space.class_names.iter().enumerate() {
        close_nan(s.iou[c], &exp["class_iou"][name], name);
    }
    // the fixture has NaN classes (absent from GT and prediction) and a 0 class (predicted, absent from GT)
    assert!(s.iou.iter().filter(|v| v.is_nan()).count() >= 2);
    assert!(s.iou.contains(&0.0));
    close(
        s.miou,
        exp["average_score_classes"].as_f64().unwrap(),
        "Score Average (classes)",
    );
    for (name, v) in &s.category_iou {
        close_nan(*v, &exp["category_iou"][name], name);
    }
    assert_eq!(s.category_iou.len(), 8);
    close(
        s.category_miou,
        exp["average_score_categories"].as_f64().unwrap(),
        "Score Average (categories)",
    );
    close(
        s.pixel_accuracy,
        exp["pixel_accuracy_from_conf"].as_f64().unwrap(),
        "pixel accuracy",
    );

    // the K×(K+1) matrix is the 34×34 one restricted to eval rows, with non-eval columns summed
    let conf: Vec<Vec<u64>> = exp["conf_matrix_34"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect()
        })
        .collect();
    for (gc, &graw) in space.eval_to_raw.iter().enumerate() {
        let row = &conf[graw as usize];
        for (pc, &praw) in space.eval_to_raw.iter().enumerate() {
            assert_eq!(
                cm.get(gc, pc),
                row[praw as usize],
                "count gt {graw} pred {praw}"
            );
        }
        let other: u64 = (0..34)
            .filter(|r| space.raw_to_eval[*r].is_none())
            .map(|r| row[r])
            .sum();
        assert_eq!(cm.get(gc, 19), other, "void predictions for gt {graw}");
    }
}

#[test]
fn cityscapes_parallel_accumulation_equals_sequential() {
    let exp = json("cityscapes_expected.json");
    let space = LabelSpace::cityscapes();
    let seq = matrix_for(&space, &exp);
    let maps: Vec<(LabelMap, LabelMap)> = exp["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                read_label_png(&fx(i["pred"].as_str().unwrap())).unwrap(),
                read_label_png(&fx(i["gt"].as_str().unwrap())).unwrap(),
            )
        })
        .collect();
    let pairs: Vec<(&[u16], &[u16])> = maps
        .iter()
        .map(|(p, g)| (p.data.as_slice(), g.data.as_slice()))
        .collect();
    let mut par = ConfusionMatrix::new(&space);
    par.accumulate_many(&pairs).unwrap();
    assert_eq!(par, seq);
    // and merging two halves gives the same matrix
    let mut a = ConfusionMatrix::new(&space);
    a.accumulate_many(&pairs[..1]).unwrap();
    let mut b = ConfusionMatrix::new(&space);
    b.accumulate_many(&pairs[1..]).unwrap();
    a.merge(&b).unwrap();
    assert_eq!(a, seq);
}

#[test]
fn ade20k_matches_authors_eval() {
    let exp = json("ade20k_expected.json");
    let cm = matrix_for(&LabelSpace::ade20k(), &exp);
    let s = cm.scores();
    for (c, e) in f64s(&exp["class_iou"]).iter().enumerate() {
        close(s.iou[c], *e, &format!("ADE class {}", c + 1));
    }
    close(s.miou, exp["miou"].as_f64().unwrap(), "ADE mIoU");
    close(
        s.pixel_accuracy,
        exp["pixel_accuracy"].as_f64().unwrap(),
        "ADE pixel accuracy",
    );
}

#[test]
fn camvid_matches_numpy() {
    let exp = json("camvid_expected.json");
    let cm = matrix_for(&LabelSpace::camvid(), &exp);
    let s = cm.scores();
    for (c, e) in exp["class_iou"].as_array().unwrap().iter().enumerate() {
        close_nan(s.iou[c], e, &format!("CamVid class {c}"));
    }
    close(s.miou, exp["miou"].as_f64().unwrap(), "CamVid mIoU");
    close(
        s.pixel_accuracy,
        exp["pixel_accuracy"].as_f64().unwrap(),
        "CamVid pixel accuracy",
    );
}

#[test]
fn nearest_exact_matches_opencv_4_and_5() {
    let exp = json("nearest_exact.json");
    for (key, mode) in [
        ("opencv4", NearestExact::OpenCv4),
        ("opencv5", NearestExact::OpenCv5),
    ] {
        let e = &exp[key];
        let mut differs = 0;
        for case in e["indices"].as_array().unwrap() {
            let (s, d) = (
                case[0].as_u64().unwrap() as usize,
                case[1].as_u64().unwrap() as usize,
            );
            let want: Vec<usize> = case[2]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(
                nearest_exact_indices(s, d, mode).unwrap(),
                want,
                "{key} {s}->{d}"
            );
            let other = if mode == NearestExact::OpenCv4 {
                NearestExact::OpenCv5
            } else {
                NearestExact::OpenCv4
            };
            differs += (nearest_exact_indices(s, d, other).unwrap() != want) as usize;
        }
        assert!(
            differs > 0,
            "the two OpenCV versions should disagree somewhere"
        );

        let u16s = |v: &Value| -> Vec<u16> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u16)
                .collect()
        };
        let cs = &e["stitch_cityscapes"];
        let layout = TileLayout {
            tile_rows: 2,
            tile_cols: 3,
            grid: 14,
        };
        let m = stitch_tiles_upsampled(&u16s(&cs["preds"]), layout, 32, mode).unwrap();
        assert_eq!((m.width, m.height), (96, 64));
        assert_eq!(m.data, u16s(&cs["map"]), "{key} Cityscapes-style stitching");

        let ade = &e["stitch_ade"];
        let layout = TileLayout {
            tile_rows: 2,
            tile_cols: 3,
            grid: 7,
        };
        let m = grids_to_label_size(&u16s(&ade["preds"]), layout, 97, 61, mode).unwrap();
        assert_eq!(m.data, u16s(&ade["map"]), "{key} ADE-style back-projection");
    }
}

fn read_mask(rel: &str) -> LabelMap {
    read_label_png(&fx(rel)).unwrap()
}

fn bin(m: &LabelMap) -> Vec<u8> {
    m.data.iter().map(|&v| (v != 0) as u8).collect()
}

#[test]
fn davis_frame_pairs_match_official_metrics() {
    let exp = json("davis_expected.json");
    for case in exp["pairs"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let g = read_mask(&format!("davis/pairs/{name}_gt.png"));
        let p = read_mask(&format!("davis/pairs/{name}_pred.png"));
        let v = read_mask(&format!("davis/pairs/{name}_void.png"));
        let (gd, pd, vd) = (bin(&g), bin(&p), bin(&v));
        let (w, h) = (g.width, g.height);
        let gm = Mask::new(w, h, &gd).unwrap();
        let pm = Mask::new(w, h, &pd).unwrap();
        let vm = Mask::new(w, h, &vd).unwrap();
        let num = |k: &str| case[k].as_f64().unwrap();
        close(
            jaccard(&gm, &pm, None).unwrap(),
            num("j"),
            &format!("{name} J"),
        );
        close(
            jaccard(&gm, &pm, Some(&vm)).unwrap(),
            num("j_void"),
            &format!("{name} J void"),
        );
        close(
            boundary_f(&gm, &pm, None, DEFAULT_BOUND_TH).unwrap(),
            num("f"),
            &format!("{name} F"),
        );
        close(
            boundary_f(&gm, &pm, Some(&vm), DEFAULT_BOUND_TH).unwrap(),
            num("f_void"),
            &format!("{name} F void"),
        );
        close(
            boundary_f(&gm, &pm, None, 4.0).unwrap(),
            num("f_bound4"),
            &format!("{name} F bound 4 px"),
        );
        close(
            boundary_f(&gm, &pm, None, 0.02).unwrap(),
            num("f_th002"),
            &format!("{name} F bound_th 0.02"),
        );
        assert_eq!(
            davis::bound_pixels(w, h, DEFAULT_BOUND_TH).unwrap() as f64,
            num("bound_pix"),
            "{name}"
        );
    }
}

#[test]
fn davis_sequences_match_official_evaluation() {
    let exp = json("davis_expected.json");
    let mut all = Vec::new();
    for seq in exp["sequences"].as_array().unwrap() {
        let name = seq["name"].as_str().unwrap();
        let n = seq["frames"].as_u64().unwrap() as usize;
        let gt: Vec<LabelMap> = (0..n)
            .map(|t| read_mask(&format!("davis/seqs/{name}/gt_{t:02}.png")))
            .collect();
        let pred: Vec<LabelMap> = (0..n)
            .map(|t| read_mask(&format!("davis/seqs/{name}/pred_{t:02}.png")))
            .collect();
        let objs = evaluate_semisupervised_sequence(name, &gt, &pred, DEFAULT_BOUND_TH).unwrap();
        let eobjs = seq["objects"].as_array().unwrap();
        assert_eq!(objs.len(), eobjs.len(), "{name}: number of objects");
        for (o, e) in objs.iter().zip(eobjs) {
            assert_eq!(o.name, e["name"].as_str().unwrap());
            for (a, b) in o.j.iter().zip(f64s(&e["j"])) {
                close(*a, b, &format!("{} J", o.name));
            }
            for (a, b) in o.f.iter().zip(f64s(&e["f"])) {
                close(*a, b, &format!("{} F", o.name));
            }
            assert_eq!(o.j.len(), n - 2);
            let js = f64s(&e["j_stats"]);
            let fs = f64s(&e["f_stats"]);
            close(o.j_stats.mean, js[0], "J mean");
            close(o.j_stats.recall, js[1], "J recall");
            close(o.j_stats.decay, js[2], "J decay");
            close(o.f_stats.mean, fs[0], "F mean");
            close(o.f_stats.recall, fs[1], "F recall");
            close(o.f_stats.decay, fs[2], "F decay");
        }
        all.extend(objs);
    }
    let s = DavisSummary::from_objects(&all);
    let e = &exp["summary"];
    close(s.jf_mean, e["J&F-Mean"].as_f64().unwrap(), "J&F-Mean");
    close(s.j_mean, e["J-Mean"].as_f64().unwrap(), "J-Mean");
    close(s.j_recall, e["J-Recall"].as_f64().unwrap(), "J-Recall");
    close(s.j_decay, e["J-Decay"].as_f64().unwrap(), "J-Decay");
    close(s.f_mean, e["F-Mean"].as_f64().unwrap(), "F-Mean");
    close(s.f_recall, e["F-Recall"].as_f64().unwrap(), "F-Recall");
    close(s.f_decay, e["F-Decay"].as_f64().unwrap(), "F-Decay");
}

#[test]
fn davis_statistics_match_db_statistics() {
    let exp = json("davis_expected.json");
    for case in exp["statistics"].as_array().unwrap() {
        let v = f64s(&case["values"]);
        let s = statistics(&v);
        close_nan(s.mean, &case["mean"], &format!("mean n={}", v.len()));
        close_nan(s.recall, &case["recall"], &format!("recall n={}", v.len()));
        close_nan(s.decay, &case["decay"], &format!("decay n={}", v.len()));
    }
}

#[test]
fn fair1m_retrieval_counts_match_notebook() {
    let exp = json("retrieval_expected.json");
    let us = |k: &str| -> Vec<usize> {
        exp[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect()
    };
    let labels: Vec<u16> = us("labels").iter().map(|&v| v as u16).collect();
    let corr: Vec<i32> = exp["correspondence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() as i32)
        .collect();
    let (q, top1) = (us("query_positions"), us("top1"));
    assert_eq!(q, non_background_positions(&labels));
    let mut input = RetrievalInput {
        labels: &labels,
        patches_per_tile: exp["patches_per_tile"].as_u64().unwrap() as usize,
        query_positions: &q,
        top1: &top1,
        correspondence: Some(&corr),
        missing: MissingCorrespondence::AuthorsQuirk,
        supercategory: &FAIR1M_STUDY_SUPERCATEGORY,
    };
    let c = retrieval_counts(&input).unwrap();
    let e = &exp["quirk"];
    let g = |k: &str| e[k].as_u64().unwrap();
    assert_eq!(c.same_patch, g("same_patch"));
    assert_eq!(c.same_fine, g("same_fine"));
    assert_eq!(c.same_super, g("same_super"));
    assert_eq!(c.non_background, g("non_background"));
    assert_eq!(c.upper_bound, g("upper_bound"));
    assert_eq!(c.queries, exp["queries"].as_u64().unwrap());
    assert_eq!(c.same_tile, exp["same_tile"].as_u64().unwrap());
    input.missing = MissingCorrespondence::Strict;
    let strict = retrieval_counts(&input).unwrap();
    assert_eq!(
        strict.same_patch,
        exp["strict_same_patch"].as_u64().unwrap()
    );
    assert!(
        strict.same_patch < c.same_patch,
        "the fixture exercises the −1 quirk"
    );
    input.correspondence = None;
    assert_eq!(
        retrieval_counts(&input).unwrap().same_patch,
        exp["identity_same_patch"].as_u64().unwrap()
    );
}

#[test]
fn tracking_accuracy_matches_notebook() {
    let exp = json("tracking_expected.json");
    let frames: Vec<(Vec<i64>, Vec<i64>)> = exp["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let v = |k: &str| {
                f[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_i64().unwrap())
                    .collect::<Vec<_>>()
            };
            (v("ids"), v("cats"))
        })
        .collect();
    let mut outcomes = Vec::new();
    for p in exp["pairs"].as_array().unwrap() {
        let (a, b) = (
            &frames[p["a"].as_u64().unwrap() as usize],
            &frames[p["b"].as_u64().unwrap() as usize],
        );
        let sim: Vec<f32> = p["sim"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let fa = FrameObjects {
            ids: &a.0,
            categories: &a.1,
        };
        let fb = FrameObjects {
            ids: &b.0,
            categories: &b.1,
        };
        if let Some(o) =
            score_frame_pair(p["delta"].as_u64().unwrap() as usize, &fa, &fb, &sim).unwrap()
        {
            outcomes.push(o);
        }
    }
    let acc = accuracy_by_delta(&outcomes);
    assert_eq!(acc.len(), 3);
    for a in acc {
        let e = &exp["accuracy"][a.delta.to_string()];
        close(
            a.instance,
            e["instance"].as_f64().unwrap(),
            &format!("Δ={} instance", a.delta),
        );
        close(
            a.category,
            e["category"].as_f64().unwrap(),
            &format!("Δ={} category", a.delta),
        );
        assert_eq!(a.pairs as u64, e["pairs"].as_u64().unwrap());
    }
}

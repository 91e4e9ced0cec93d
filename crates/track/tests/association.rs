//! Hand-worked association examples (protocol §8 rules as in the authors' notebook).

use patchlens_track::{
    AssociationConfig, AssociationEvaluator, PairOutcome, Similarity, TrackError, TrackedObject,
    evaluate_frame_pair,
};

fn obj(id: &str, category: &str, vector: &[f32]) -> TrackedObject {
    TrackedObject {
        id: id.to_string(),
        category: category.to_string(),
        vector: vector.to_vec(),
    }
}

fn outcome(queries: usize, inst: usize, cat: usize) -> PairOutcome {
    PairOutcome {
        queries,
        same_instance_correct: inst,
        same_category_correct: cat,
    }
}

#[test]
fn missing_and_new_objects() {
    // t: A, B (cars), C (person, absent at t+Δ). t+Δ: A', B', D' (new car).
    // Query A=[1,0]: A'=.9, B'=.6, D'=.95 -> instance wrong (D' wins), category right (D' is a car).
    // Query B=[0,1]: A'=.1, B'=.4, D'=0 -> both right. C is not a query.
    let t0 = vec![
        obj("A", "car", &[1.0, 0.0]),
        obj("B", "car", &[0.0, 1.0]),
        obj("C", "pedestrian", &[1.0, 1.0]),
    ];
    let t1 = vec![
        obj("A", "car", &[0.9, 0.1]),
        obj("B", "car", &[0.6, 0.4]),
        obj("D", "car", &[0.95, 0.0]),
    ];
    assert_eq!(
        evaluate_frame_pair(t0, t1, Similarity::Dot).unwrap(),
        outcome(2, 1, 2)
    );
}

#[test]
fn exact_tie_counts_as_correct() {
    // A' and B' are identical: max_sim == same_sim holds, so the instance match counts as correct.
    let t0 = vec![obj("A", "car", &[1.0, 0.0])];
    let t1 = vec![obj("B", "bus", &[1.0, 0.0]), obj("A", "car", &[1.0, 0.0])];
    assert_eq!(
        evaluate_frame_pair(t0, t1, Similarity::Dot).unwrap(),
        outcome(1, 1, 1)
    );
}

#[test]
fn category_rule() {
    // Query P (pedestrian) = [1, 0]. t+Δ: P' = [.5, 0] pedestrian, Q' = [.8, 0] car.
    // max over all = .8 (car) != max over pedestrians = .5 -> category wrong, instance wrong.
    let t0 = vec![obj("P", "pedestrian", &[1.0, 0.0])];
    let t1 = vec![
        obj("P", "pedestrian", &[0.5, 0.0]),
        obj("Q", "car", &[0.8, 0.0]),
    ];
    assert_eq!(
        evaluate_frame_pair(t0.clone(), t1.clone(), Similarity::Dot).unwrap(),
        outcome(1, 0, 0)
    );
    // Add another pedestrian R' = [.9, 0]: the max is now a pedestrian -> category right, instance wrong.
    let mut t1b = t1;
    t1b.push(obj("R", "pedestrian", &[0.9, 0.0]));
    assert_eq!(
        evaluate_frame_pair(t0, t1b, Similarity::Dot).unwrap(),
        outcome(1, 0, 1)
    );
}

#[test]
fn category_is_taken_from_the_query_frame() {
    // X is a car at t and labelled truck at t+Δ, and no car exists at t+Δ: the same-category set is
    // empty, so the category match is counted wrong even though the instance match is right.
    let t0 = vec![obj("X", "car", &[1.0])];
    let t1 = vec![obj("X", "truck", &[2.0]), obj("Y", "bus", &[1.0])];
    assert_eq!(
        evaluate_frame_pair(t0, t1, Similarity::Dot).unwrap(),
        outcome(1, 1, 0)
    );
}

#[test]
fn dot_versus_cosine() {
    // Query [1, 0]; A' = [2, 0] (same id), B' = [3, 3]. Dot: 2 vs 3 -> wrong. Cosine: 1 vs .707 -> right.
    let t0 = vec![obj("A", "car", &[1.0, 0.0])];
    let t1 = vec![obj("A", "car", &[2.0, 0.0]), obj("B", "car", &[3.0, 3.0])];
    assert_eq!(
        evaluate_frame_pair(t0.clone(), t1.clone(), Similarity::Dot).unwrap(),
        outcome(1, 0, 1)
    );
    assert_eq!(
        evaluate_frame_pair(t0, t1, Similarity::Cosine).unwrap(),
        outcome(1, 1, 1)
    );
}

#[test]
fn streaming_two_videos() {
    // Video 1 (1-D vectors):
    //   f0: a=[1] car, b=[-1] car      f1: a=[2] car, b=[-3] car
    //   f2: a=[1] car, c=[5] bus       f3: (no objects)
    // Δ=1: (0,1) a: 2 vs -3 ok; b: -2 vs 3 ok -> inst 1, cat 1.
    //      (1,2) a=[2]: a' 2 vs c' 10 -> inst 0; max 10 is a bus, max over cars 2 -> cat 0.
    //      (2,3) no common ids -> not counted.
    // Δ=2: (0,2) a=[1]: a' 1 vs c' 5 -> inst 0, cat 0. (1,3): none.
    // Δ=3: (0,3): none.
    // Video 2: f0: a=[1] car, f1: a=[1] car -> Δ=1: inst 1, cat 1; nothing for Δ=2,3, and no pairing
    // across the video boundary.
    let mut ev = AssociationEvaluator::new(AssociationConfig {
        deltas: vec![1, 2, 3],
        similarity: Similarity::Dot,
    })
    .unwrap();
    ev.push_frame(vec![obj("a", "car", &[1.0]), obj("b", "car", &[-1.0])])
        .unwrap();
    ev.push_frame(vec![obj("a", "car", &[2.0]), obj("b", "car", &[-3.0])])
        .unwrap();
    ev.push_frame(vec![obj("a", "car", &[1.0]), obj("c", "bus", &[5.0])])
        .unwrap();
    ev.push_frame(vec![]).unwrap();
    ev.end_video();
    ev.push_frame(vec![obj("a", "car", &[1.0])]).unwrap();
    ev.push_frame(vec![obj("a", "car", &[1.0])]).unwrap();
    let r = ev.finish();
    assert_eq!((r.videos, r.frames), (2, 6));
    let d1 = &r.deltas[0];
    assert_eq!((d1.delta, d1.frame_pairs, d1.queries), (1, 3, 4));
    assert_eq!((d1.same_instance_correct, d1.same_category_correct), (3, 3));
    // mean over pairs: (1 + 0 + 1) / 3; pooled: 3 / 4
    assert!((d1.same_instance.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert!((d1.same_category.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert!((d1.same_instance_pooled().unwrap() - 0.75).abs() < 1e-12);
    let d2 = &r.deltas[1];
    assert_eq!((d2.delta, d2.frame_pairs, d2.queries), (2, 1, 1));
    assert_eq!((d2.same_instance, d2.same_category), (Some(0.0), Some(0.0)));
    let d3 = &r.deltas[2];
    assert_eq!(
        (d3.frame_pairs, d3.same_instance, d3.same_category_pooled()),
        (0, None, None)
    );
    // serialisable; an empty Δ is null
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["similarity"], "dot");
    assert!(json["deltas"][2]["same_instance"].is_null());
}

#[test]
fn long_gap_uses_the_right_frame() {
    // Δ=3 with frames carrying distinct ids per frame except the pair (0, 3): only that pair counts.
    let mut ev = AssociationEvaluator::new(AssociationConfig {
        deltas: vec![3],
        similarity: Similarity::Dot,
    })
    .unwrap();
    for (i, id) in ["x", "p", "q", "x", "r"].into_iter().enumerate() {
        let v = if i == 3 { [-1.0f32] } else { [1.0] };
        ev.push_frame(vec![
            obj(id, "car", &v),
            obj(&format!("other{i}"), "car", &[0.5]),
        ])
        .unwrap();
    }
    // (0,3): x=[1] vs x'=[-1] -> -1, other3=[.5] -> .5: wrong. (1,4): no common id.
    let d = &ev.result().deltas[0];
    assert_eq!(
        (
            d.frame_pairs,
            d.queries,
            d.same_instance_correct,
            d.same_category_correct
        ),
        (1, 1, 0, 1)
    );
}

#[test]
fn bad_inputs_are_errors() {
    let bad = |deltas: Vec<usize>| {
        AssociationEvaluator::new(AssociationConfig {
            deltas,
            similarity: Similarity::Dot,
        })
    };
    assert!(matches!(bad(vec![]), Err(TrackError::InvalidConfig { .. })));
    assert!(matches!(
        bad(vec![0, 1]),
        Err(TrackError::InvalidConfig { .. })
    ));
    assert!(matches!(
        bad(vec![1, 1]),
        Err(TrackError::InvalidConfig { .. })
    ));
    let mut ev = bad(vec![1]).unwrap();
    let dup = ev.push_frame(vec![obj("a", "car", &[1.0]), obj("a", "car", &[2.0])]);
    assert_eq!(
        dup,
        Err(TrackError::DuplicateId {
            frame: 0,
            id: "a".to_string()
        })
    );
    let mut ev = bad(vec![1]).unwrap();
    ev.push_frame(vec![obj("a", "car", &[1.0, 2.0])]).unwrap();
    assert!(matches!(
        ev.push_frame(vec![obj("a", "car", &[1.0])]),
        Err(TrackError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        ev.push_frame(vec![obj("a", "car", &[1.0, f32::NAN])]),
        Err(TrackError::NonFinite { index: 1, .. })
    ));
}

#[test]
fn protocol_defaults() {
    let c = AssociationConfig::default();
    assert_eq!(c.deltas.len(), 30);
    assert_eq!((c.deltas[0], c.deltas[29]), (1, 59));
    assert_eq!(c.similarity, Similarity::Dot);
    assert_eq!(
        patchlens_track::protocol::bdd::plotted_deltas(),
        vec![1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, 53, 57]
    );
}

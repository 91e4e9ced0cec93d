//! Small numeric kernels shared by the association and propagation code.

/// Dot product of two equal-length f32 slices: 16 independent f32 accumulator lanes (vectorisable,
/// deterministic for a given length), combined in f64. Relative error is of the order of f32 rounding,
/// like a BLAS `sdot`.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    const LANES: usize = 16;
    let mut lanes = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            lanes[l] += x[l] * y[l];
        }
    }
    let mut s = lanes.iter().map(|&v| f64::from(v)).sum::<f64>();
    for (x, y) in ra.iter().zip(rb) {
        s += f64::from(*x) * f64::from(*y);
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn dot_matches_f64_reference() {
        // 0.5 * k * (k mod 7) summed exactly in f64 for k < 100 (exactly representable terms).
        let a: Vec<f32> = (0..100).map(|k| k as f32).collect();
        let b: Vec<f32> = (0..100).map(|k| 0.5 * (k % 7) as f32).collect();
        let want: f64 = (0..100).map(|k| 0.5 * (k as f64) * ((k % 7) as f64)).sum();
        assert_eq!(super::dot(&a, &b), want);
    }
}

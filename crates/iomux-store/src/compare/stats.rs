//! The small statistics the verdicts need: quantiles and the history fence, the geometric
//! mean of the controls, and the Wilcoxon signed-rank test of paired samples with a
//! distribution-free confidence interval for their median.

/// Q3 + `k`·IQR of some values (linear interpolation between order statistics); 0 for none.
pub fn fence(values: &[f64], k: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let q1 = quantile(&sorted, 0.25);
    let q3 = quantile(&sorted, 0.75);
    q3 + k * (q3 - q1)
}

/// The `q` quantile of sorted values (linear interpolation).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

/// The geometric mean of some ratios (`None` for none).
pub fn geomean(ratios: &[f64]) -> Option<f64> {
    if ratios.is_empty() {
        return None;
    }
    Some((ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp())
}

/// The Wilcoxon signed-rank test of paired differences `d` (B − A, here log ratios): the
/// two-sided p-value of "their distribution is symmetric about 0", by the normal
/// approximation with the tie and zero corrections (Pratt's handling of zeros is not used:
/// zeros are dropped, as in Wilcoxon's original). Exact enough from about 10 pairs; with fewer
/// than 6 non-zero differences no p-value below 0.03 is possible, and 1.0 is returned.
pub fn wilcoxon_p(d: &[f64]) -> f64 {
    let mut nonzero: Vec<f64> = d.iter().copied().filter(|x| *x != 0.0).collect();
    let n = nonzero.len();
    if n < 6 {
        return 1.0;
    }
    nonzero.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    // Average ranks for ties of |d|, and the tie correction of the variance.
    let mut w_plus = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && nonzero[j + 1].abs() == nonzero[i].abs() {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let tied = (j - i + 1) as f64;
        tie_term += tied * tied * tied - tied;
        for x in &nonzero[i..=j] {
            if *x > 0.0 {
                w_plus += rank;
            }
        }
        i = j + 1;
    }
    let nf = n as f64;
    let mean = nf * (nf + 1.0) / 4.0;
    let variance = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tie_term / 48.0;
    if variance <= 0.0 {
        return 1.0;
    }
    // Continuity correction towards the mean.
    let z = ((w_plus - mean).abs() - 0.5).max(0.0) / variance.sqrt();
    (2.0 * normal_upper_tail(z)).min(1.0)
}

/// P(Z > z) for a standard normal Z (Abramowitz and Stegun 7.1.26 through erfc; absolute
/// error below 1.5e-7, plenty for p-values compared with 0.005).
fn normal_upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    let erfc = if x >= 0.0 { erfc } else { 2.0 - erfc };
    erfc / 2.0
}

/// A 95% confidence interval for the median of `d`, from its order statistics (the
/// binomial, distribution-free interval): `None` with fewer than 6 values.
pub fn median_interval(d: &[f64]) -> Option<(f64, f64)> {
    let n = d.len();
    if n < 6 {
        return None;
    }
    let mut sorted = d.to_vec();
    sorted.sort_by(f64::total_cmp);
    let nf = n as f64;
    let k = ((nf / 2.0) - 1.96 * nf.sqrt() / 2.0).floor().max(0.0) as usize;
    Some((sorted[k], sorted[n - 1 - k]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_tail_matches_known_values() {
        for (z, p) in [(0.0, 0.5), (1.96, 0.025), (2.807, 0.0025), (3.29, 0.0005)] {
            assert!((normal_upper_tail(z) - p).abs() < 2e-4, "z={z}");
        }
    }

    #[test]
    fn wilcoxon_tells_a_shift_from_symmetric_noise() {
        // 40 pairs, all B above A: p is tiny.
        let shifted: Vec<f64> = (0..40).map(|i| 0.1 + (i % 7) as f64 * 0.01).collect();
        assert!(wilcoxon_p(&shifted) < 1e-6);
        // Symmetric about zero: p near 1.
        let symmetric: Vec<f64> = (1..=40)
            .map(|i| if i % 2 == 0 { i as f64 } else { -(i as f64) })
            .collect();
        assert!(wilcoxon_p(&symmetric) > 0.5, "{}", wilcoxon_p(&symmetric));
        // Too few pairs decide nothing.
        assert_eq!(wilcoxon_p(&[1.0, 2.0, 3.0]), 1.0);
    }

    #[test]
    fn the_fence_grows_with_k_and_the_interval_holds_the_median() {
        let values: Vec<f64> = (0..20).map(|i| i as f64).collect();
        assert!(fence(&values, 3.0) > fence(&values, 1.5));
        let (lo, hi) = median_interval(&values).unwrap();
        assert!(lo < 9.5 && hi > 9.5, "{lo} {hi}");
        assert_eq!(geomean(&[2.0, 8.0]), Some(4.0));
    }
}

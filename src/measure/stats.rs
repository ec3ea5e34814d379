//! Stats: the few formulas a funnel report needs to say how sure a rate is.
//! A conversion rate with its 95% Wilson interval, the two-proportion z-test
//! that says whether two A/B variants differ, and the sample size that would
//! tell a difference of the size seen. Pure functions of counts; knows
//! nothing of funnels or the store.

/// The normal quantile of 97.5%: a two-sided 95% interval or test.
const Z_95: f64 = 1.959_963_984_540_054;
/// The normal quantile of 80%: the usual power of an A/B test.
const Z_POWER_80: f64 = 0.841_621_233_572_914_3;

/// The significance level the report uses.
pub const ALPHA: f64 = 0.05;

/// `successes` out of `trials`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proportion {
    pub successes: u64,
    pub trials: u64,
}

impl Proportion {
    pub fn new(successes: u64, trials: u64) -> Self {
        Self { successes, trials }
    }

    /// `None` with no trials: no rate, rather than a made-up zero.
    pub fn rate(self) -> Option<f64> {
        (self.trials > 0).then(|| self.successes as f64 / self.trials as f64)
    }

    /// The 95% Wilson score interval. Unlike `rate ± 1.96·se` it stays
    /// inside [0, 1] and is honest for small counts and rates near 0 or 1,
    /// which is what a funnel stage with 12 contacts has.
    pub fn wilson(self) -> Option<(f64, f64)> {
        let p = self.rate()?;
        let n = self.trials as f64;
        let z2 = Z_95 * Z_95;
        let denominator = 1.0 + z2 / n;
        let centre = (p + z2 / (2.0 * n)) / denominator;
        let half = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
        Some(((centre - half).max(0.0), (centre + half).min(1.0)))
    }
}

/// Whether `b` converts differently from `a`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Difference {
    /// `b`'s rate minus `a`'s.
    pub difference: f64,
    pub z: f64,
    /// Two-sided.
    pub p_value: f64,
}

impl Difference {
    pub fn significant(&self) -> bool {
        self.p_value < ALPHA
    }
}

/// The pooled two-proportion z-test. `None` when an arm is empty or
/// nobody (or everybody) converted in both, where there is nothing to test.
pub fn two_proportion(a: Proportion, b: Proportion) -> Option<Difference> {
    let (pa, pb) = (a.rate()?, b.rate()?);
    let (na, nb) = (a.trials as f64, b.trials as f64);
    let pooled = (a.successes + b.successes) as f64 / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    if se == 0.0 {
        return None;
    }
    let z = (pb - pa) / se;
    Some(Difference {
        difference: pb - pa,
        z,
        p_value: erfc(z.abs() / std::f64::consts::SQRT_2),
    })
}

/// Contacts needed in each arm to detect the difference between rates `pa`
/// and `pb` with a two-sided 5% test at 80% power (Fleiss, without
/// continuity correction). `None` when the rates are equal: no sample is
/// large enough to tell a difference that is not there.
pub fn needed_per_arm(pa: f64, pb: f64) -> Option<u64> {
    let delta = (pa - pb).abs();
    if delta < f64::EPSILON {
        return None;
    }
    let mean = (pa + pb) / 2.0;
    let root = Z_95 * (2.0 * mean * (1.0 - mean)).sqrt()
        + Z_POWER_80 * (pa * (1.0 - pa) + pb * (1.0 - pb)).sqrt();
    Some((root * root / (delta * delta)).ceil() as u64)
}

/// The complementary error function (Numerical Recipes' `erfcc`, relative
/// error below 1.2e-7: plenty for a p-value, and no dependency for it).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() < tolerance
    }

    #[test]
    fn wilson_matches_the_textbook_values() {
        // 10 of 100: 0.0552 to 0.1744 (Newcombe 1998, method 3).
        let (low, high) = Proportion::new(10, 100).wilson().unwrap();
        assert!(
            close(low, 0.0552, 1e-4) && close(high, 0.1744, 1e-4),
            "{low} {high}"
        );
        // 0 of 10 still has an upper bound: 0 to 0.2775.
        let (low, high) = Proportion::new(0, 10).wilson().unwrap();
        assert!(
            close(low, 0.0, 1e-12) && close(high, 0.2775, 1e-4),
            "{low} {high}"
        );
        assert_eq!(Proportion::new(0, 0).wilson(), None);
    }

    #[test]
    fn ten_against_fifteen_percent_over_5000_each_is_significant() {
        let d = two_proportion(Proportion::new(500, 5000), Proportion::new(750, 5000)).unwrap();
        assert!(close(d.difference, 0.05, 1e-12));
        // pooled 0.125, se 0.006614: z 7.559, p about 4e-14.
        assert!(close(d.z, 7.559, 1e-3), "{}", d.z);
        assert!(d.p_value < 1e-12 && d.significant(), "{}", d.p_value);
    }

    #[test]
    fn equal_rates_are_not_significant() {
        let d = two_proportion(Proportion::new(500, 5000), Proportion::new(510, 5000)).unwrap();
        assert!(close(d.p_value, 0.7400, 1e-4), "{}", d.p_value);
        assert!(!d.significant());
        assert_eq!(
            two_proportion(Proportion::new(0, 10), Proportion::new(0, 10)),
            None
        );
    }

    #[test]
    fn the_p_value_of_z_1_96_is_five_percent() {
        assert!(close(erfc(Z_95 / std::f64::consts::SQRT_2), 0.05, 1e-6));
        assert!(close(erfc(0.0), 1.0, 1e-7));
        assert!(close(erfc(-1.0), 1.842_700_79, 1e-6));
    }

    #[test]
    fn sample_size_for_ten_against_fifteen_percent() {
        // (1.96·√(2·.125·.875) + 0.8416·√(.09 + .1275))² / .05² = 685.3
        assert_eq!(needed_per_arm(0.10, 0.15), Some(686));
        assert_eq!(needed_per_arm(0.10, 0.10), None);
    }
}

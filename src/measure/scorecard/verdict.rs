//! A/B results in words: which variant won and by how much (`winner`, one
//! text for the table, JSON, CSV and HTML), and each comparison's verdict.

use super::Comparison;

/// The winner of a split from its comparisons (each variant against the
/// first), and the verdict in words. A variant wins when it beats the
/// control significantly (the largest such difference if several do); the
/// control wins when every other variant is significantly worse.
pub fn winner(comparisons: &[Comparison]) -> (Option<String>, String) {
    let better = comparisons
        .iter()
        .filter(|c| c.significant && c.difference.is_some_and(|d| d > 0.0))
        .max_by(|a, b| {
            a.difference
                .unwrap_or(0.0)
                .total_cmp(&b.difference.unwrap_or(0.0))
        });
    if let Some(c) = better {
        let p = c.p_value.unwrap_or(0.0);
        let points = points(c.difference);
        return (
            Some(c.variant.clone()),
            format!(
                "winner: {}, converting {points} more than {} (p={p:.4})",
                c.variant, c.control
            ),
        );
    }
    let all_worse = !comparisons.is_empty()
        && comparisons
            .iter()
            .all(|c| c.significant && c.difference.is_some_and(|d| d < 0.0));
    if let (true, Some(first)) = (all_worse, comparisons.first()) {
        let p = comparisons
            .iter()
            .filter_map(|c| c.p_value)
            .fold(0.0, f64::max);
        // The smallest margin: the control beats every variant by at least this.
        let margin = comparisons
            .iter()
            .filter_map(|c| c.difference)
            .map(f64::abs)
            .reduce(f64::min);
        let than = match comparisons {
            [one] => one.variant.clone(),
            _ => "every other variant".to_string(),
        };
        let least = if comparisons.len() > 1 {
            "at least "
        } else {
            ""
        };
        return (
            Some(first.control.clone()),
            format!(
                "winner: {}, converting {least}{} more than {than} (p={p:.4})",
                first.control,
                points(margin)
            ),
        );
    }
    let more = comparisons.iter().filter_map(|c| c.more_needed).max();
    let verdict = match more {
        Some(more) if more > 0 => format!("no winner yet; need about {more} more per variant"),
        _ if comparisons.iter().all(|c| c.p_value.is_none()) => {
            "no winner yet; not enough data to compare".to_string()
        }
        _ => "no winner: the variants convert alike".to_string(),
    };
    (None, verdict)
}

/// The verdict on one comparison, in words.
pub fn verdict(c: &Comparison) -> String {
    let Some(p) = c.p_value else {
        return "not enough data to compare".to_string();
    };
    if c.significant {
        return format!("significant (p = {p:.4})");
    }
    match (c.needed_per_variant, c.more_needed) {
        (None, _) => format!("no difference (p = {p:.4})"),
        (Some(_), Some(more)) if more > 0 => {
            format!("not significant (p = {p:.4}); about {more} more contacts per variant to tell")
        }
        _ => format!("not significant (p = {p:.4})"),
    }
}

/// A difference of two rates in percentage points: `5.0 points`.
fn points(difference: Option<f64>) -> String {
    format!("{:.1} points", difference.unwrap_or(0.0).abs() * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compared(variant: &str, difference: f64, p: f64, more: Option<u64>) -> Comparison {
        Comparison {
            control: "control".to_string(),
            variant: variant.to_string(),
            difference: Some(difference),
            p_value: Some(p),
            significant: p < 0.05,
            needed_per_variant: more.map(|m| m + 100),
            more_needed: more,
        }
    }

    /// The report gave each comparison's p-value but never said which
    /// variant won: now it names the winner, or what it still needs.
    #[test]
    fn the_winner_is_named_in_words() {
        let (won, verdict) = super::winner(&[compared("coupon", 0.2, 0.01, None)]);
        assert_eq!(won.as_deref(), Some("coupon"));
        assert_eq!(
            verdict,
            "winner: coupon, converting 20.0 points more than control (p=0.0100)"
        );

        let (won, verdict) = super::winner(&[compared("coupon", -0.2, 0.01, None)]);
        assert_eq!(won.as_deref(), Some("control"));
        assert_eq!(
            verdict,
            "winner: control, converting 20.0 points more than coupon (p=0.0100)"
        );

        let (won, verdict) = super::winner(&[
            compared("coupon", -0.2, 0.01, None),
            compared("call", -0.05, 0.04, None),
        ]);
        assert_eq!(won.as_deref(), Some("control"));
        assert_eq!(
            verdict,
            "winner: control, converting at least 5.0 points more than every other variant (p=0.0400)"
        );

        let (won, verdict) = super::winner(&[compared("coupon", 0.05, 0.3, Some(120))]);
        assert_eq!(won, None);
        assert_eq!(verdict, "no winner yet; need about 120 more per variant");
    }
}

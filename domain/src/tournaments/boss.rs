//! The boss round: the tournament's winner challenges the defending champion on `TASKS` tasks. The
//! challenger takes the title only by beating the champion's held-out loss by a margin on at least
//! `WINS_NEEDED` of them. The margin starts at 10 % and shrinks by a fifth for each consecutive title the
//! champion has defended, never below 3 % (the Gradients rule).

/// Tasks in a boss round.
pub const TASKS: usize = 6;
/// Tasks the challenger must win to take the title.
pub const WINS_NEEDED: usize = 4;

/// The margin, as a fraction of the champion's loss, a challenger must beat it by when the champion
/// has won `consecutive_wins` tournaments in a row (at least 1).
pub fn margin(consecutive_wins: u32) -> f64 {
    let shrunk = 0.10 * 0.8f64.powi(consecutive_wins.max(1) as i32 - 1);
    shrunk.max(0.03)
}

/// Whether the challenger's loss beats the champion's by `margin` on one task: lower by at least that
/// fraction of the champion's loss's magnitude, so the rule holds for metrics below zero too (GRPO's
/// minus the mean reward). A task the challenger could not be evaluated on is lost; one the champion
/// could not be evaluated on is won by any evaluated challenger.
pub fn task_won(challenger: Option<f64>, champion: Option<f64>, margin: f64) -> bool {
    match (challenger, champion) {
        (Some(challenger), Some(champion)) => {
            // Compared with a little slack, so that a loss exactly at the margin is not lost to rounding.
            challenger <= champion - margin * champion.abs() + 1e-12 * champion.abs().max(1.0)
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// The outcome of a boss round from each task's (challenger, champion) losses.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub margin: f64,
    pub challenger_wins: usize,
    pub title_changes: bool,
}

pub fn judge(consecutive_wins: u32, losses: &[(Option<f64>, Option<f64>)]) -> Verdict {
    let margin = margin(consecutive_wins);
    let challenger_wins = losses
        .iter()
        .filter(|(challenger, champion)| task_won(*challenger, *champion, margin))
        .count();
    Verdict {
        margin,
        challenger_wins,
        title_changes: challenger_wins >= WINS_NEEDED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_shrinks_by_a_fifth_per_defended_title_and_never_below_three_percent() {
        assert!((margin(1) - 0.10).abs() < 1e-12);
        assert!((margin(2) - 0.08).abs() < 1e-12);
        assert!((margin(3) - 0.064).abs() < 1e-12);
        assert!((margin(6) - 0.10 * 0.8f64.powi(5)).abs() < 1e-12);
        assert_eq!(margin(7), 0.03, "0.10 × 0.8^6 = 0.026 is below the floor");
        assert_eq!(margin(40), 0.03);
        assert_eq!(margin(0), margin(1), "a champion has at least one win");
    }

    #[test]
    fn exactly_at_the_margin_wins_and_just_short_of_it_loses() {
        // Champion loss 2.0, first defence: the challenger needs 1.8 or less.
        assert!(task_won(Some(1.8), Some(2.0), margin(1)));
        assert!(!task_won(Some(1.8001), Some(2.0), margin(1)));
        // Seventh defence: the floor of 3 % holds, 2.0 → 1.94.
        assert!(task_won(Some(1.94), Some(2.0), margin(7)));
        assert!(
            !task_won(Some(1.95), Some(2.0), margin(7)),
            "2.5 % better is below 3 %"
        );
        assert!(
            !task_won(None, Some(2.0), margin(1)),
            "a failed run loses the task"
        );
        assert!(
            task_won(Some(9.0), None, margin(1)),
            "against a failed champion run any result wins"
        );
    }

    #[test]
    fn below_zero_the_margin_is_of_the_champions_magnitude() {
        // GRPO: minus the mean reward. The champion's −2.0; a challenger must reach −2.2 (10 % better).
        assert!(task_won(Some(-2.2), Some(-2.0), margin(1)));
        assert!(
            !task_won(Some(-1.9), Some(-2.0), margin(1)),
            "a worse challenger (−1.9 > −2.0) must never win"
        );
        assert!(
            !task_won(Some(-2.1), Some(-2.0), margin(1)),
            "5 % better is short of 10 %"
        );
        // A champion at exactly zero: any challenger below it by the slack wins, none above.
        assert!(!task_won(Some(0.5), Some(0.0), margin(1)));
    }

    #[test]
    fn four_of_six_take_the_title_and_three_do_not() {
        let beat = (Some(1.0), Some(2.0));
        let lost = (Some(2.0), Some(2.0));
        let four = [beat, beat, beat, beat, lost, lost];
        let three = [beat, beat, beat, lost, lost, lost];
        assert_eq!(judge(1, &four).challenger_wins, 4);
        assert!(judge(1, &four).title_changes);
        assert_eq!(judge(1, &three).challenger_wins, 3);
        assert!(!judge(1, &three).title_changes);
        // Beating by 5 % on every task is enough against a champion on its seventh defence (3 %), not
        // against one on its first (10 %).
        let five_percent = [(Some(1.9), Some(2.0)); 6];
        assert!(judge(7, &five_percent).title_changes);
        assert!(!judge(1, &five_percent).title_changes);
    }
}

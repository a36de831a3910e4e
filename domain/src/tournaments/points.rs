//! Tournament points, as on Gradients: a round is worth its number times the tournament type's weight,
//! and the entrants of a group or pair share it by rank, the first taking it all and each next rank
//! 0.3 times the one before.

/// How much a tournament type's rounds weigh.
pub fn type_weight(kind: &str) -> f64 {
    match kind {
        "image" => 0.5,
        _ => 1.0,
    }
}

/// The points of rank `rank` (1 is first) in round `round` (1 is the first) of a `kind` tournament.
pub fn for_rank(kind: &str, round: u32, rank: u32) -> f64 {
    let worth = f64::from(round) * type_weight(kind);
    worth * 0.3f64.powi(rank.max(1) as i32 - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_rounds_are_worth_more_and_ranks_share_by_three_tenths() {
        assert_eq!(for_rank("text", 1, 1), 1.0);
        assert!((for_rank("text", 1, 2) - 0.3).abs() < 1e-12);
        assert!((for_rank("text", 3, 3) - 3.0 * 0.09).abs() < 1e-12);
        assert_eq!(for_rank("image", 2, 1), 1.0);
    }
}

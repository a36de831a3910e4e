//! How a round's entrants meet: more than `KNOCKOUT_MAX` entrants play in groups of about
//! `GROUP_TARGET` (never fewer than `GROUP_MIN` per group when that can be helped), one task per group,
//! and the best `GROUP_ADVANCE` of each group advance; otherwise they meet in knockout pairs, and an odd
//! entrant out (the best seed) advances on a bye.

/// The most entrants that play knockout pairs instead of groups.
pub const KNOCKOUT_MAX: usize = 14;
/// The group size aimed for.
pub const GROUP_TARGET: usize = 32;
/// The smallest group made when there are enough entrants to avoid a smaller one.
pub const GROUP_MIN: usize = 20;
/// How many of each group advance.
pub const GROUP_ADVANCE: usize = 8;

/// How a round is played.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Round {
    /// Groups of entrant indices (into the seeded list), each playing one task.
    Groups(Vec<Vec<usize>>),
    /// Pairs of entrant indices, each playing one task; `bye` advances without playing.
    Knockout {
        pairs: Vec<(usize, usize)>,
        bye: Option<usize>,
    },
}

/// The round for `entrants` entrants, given in seed order (best first). Groups are dealt like cards
/// (seed 1 to group 1, seed 2 to group 2, …), so that the strongest are spread over the groups; pairs
/// meet the best remaining seed against the worst.
pub fn draw(entrants: usize) -> Round {
    if entrants > KNOCKOUT_MAX {
        let groups = group_count(entrants);
        let mut dealt = vec![Vec::new(); groups];
        for seed in 0..entrants {
            dealt[seed % groups].push(seed);
        }
        return Round::Groups(dealt);
    }
    let bye = (entrants % 2 == 1).then_some(0);
    let playing: Vec<usize> = (usize::from(bye.is_some())..entrants).collect();
    let half = playing.len() / 2;
    let pairs = (0..half)
        .map(|i| (playing[i], playing[playing.len() - 1 - i]))
        .collect();
    Round::Knockout { pairs, bye }
}

/// Groups of about `GROUP_TARGET`, as few as keep every group at `GROUP_MIN` or more.
fn group_count(entrants: usize) -> usize {
    let near_target = entrants.div_ceil(GROUP_TARGET);
    let most_at_min = entrants / GROUP_MIN;
    near_target.min(most_at_min).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(round: &Round) -> Vec<usize> {
        match round {
            Round::Groups(groups) => groups.iter().map(Vec::len).collect(),
            Round::Knockout { .. } => vec![],
        }
    }

    #[test]
    fn fourteen_or_fewer_play_pairs_and_an_odd_one_out_gets_a_bye() {
        assert_eq!(
            draw(9),
            Round::Knockout {
                pairs: vec![(1, 8), (2, 7), (3, 6), (4, 5)],
                bye: Some(0)
            }
        );
        assert_eq!(
            draw(2),
            Round::Knockout {
                pairs: vec![(0, 1)],
                bye: None
            }
        );
        match draw(14) {
            Round::Knockout { pairs, bye } => assert_eq!((pairs.len(), bye), (7, None)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn more_than_fourteen_play_groups_of_about_32_and_of_20_or_more_when_possible() {
        assert_eq!(sizes(&draw(15)), [15], "too few for two groups of 20");
        assert_eq!(
            sizes(&draw(33)),
            [33],
            "two groups would hold fewer than 20"
        );
        assert_eq!(sizes(&draw(40)), [20, 20]);
        assert_eq!(sizes(&draw(64)), [32, 32]);
        assert_eq!(sizes(&draw(100)), [25, 25, 25, 25]);
        assert_eq!(sizes(&draw(70)), [24, 23, 23]);
        // Every entrant plays in exactly one group, and the best seeds are spread over them.
        let Round::Groups(groups) = draw(70) else {
            panic!()
        };
        let mut all: Vec<usize> = groups.concat();
        all.sort_unstable();
        assert_eq!(all, (0..70).collect::<Vec<_>>());
        assert_eq!(groups.iter().map(|g| g[0]).collect::<Vec<_>>(), [0, 1, 2]);
    }
}

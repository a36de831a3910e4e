//! The seeded train/test split, made in one streaming pass.
//!
//! Every usable row gets a key: a seeded 64-bit hash of its normalised bytes. The test split is the
//! `min(10 %, 400)` rows with the smallest keys, so it depends only on the rows and the seed — not on
//! the backend, the machine or a restart. While reading, the selector holds the 400 smallest keys seen
//! so far (bounded memory) and sends every other row straight to the training output.

use std::collections::BinaryHeap;

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The Gradients rule: 10 % of the rows, at most 400.
pub const TEST_FRACTION_DENOMINATOR: u64 = 10;
pub const MAX_TEST_ROWS: usize = 400;

pub struct Selector {
    seed: u64,
    held: BinaryHeap<(u64, String)>,
    rows: u64,
}

impl Selector {
    pub fn new(seed: u64) -> Self {
        Selector {
            seed,
            held: BinaryHeap::with_capacity(MAX_TEST_ROWS + 1),
            rows: 0,
        }
    }

    /// The key that orders `row` for the split with `seed` (computed apart, so that it can be
    /// computed in parallel).
    pub fn key(seed: u64, row: &str) -> u64 {
        xxh3_64_with_seed(row.as_bytes(), seed)
    }

    /// Offers a usable row; rows that can no longer be in the test split go to `train`.
    pub fn offer(&mut self, row: String, train: &mut impl FnMut(&str)) {
        self.offer_keyed(Self::key(self.seed, &row), row, train);
    }

    /// `offer` with the row's key already computed by `Selector::key` with this selector's seed.
    pub fn offer_keyed(&mut self, key: u64, row: String, train: &mut impl FnMut(&str)) {
        self.rows += 1;
        if self.held.len() == MAX_TEST_ROWS
            && self.held.peek().is_some_and(|(largest, _)| key > *largest)
        {
            train(&row);
            return;
        }
        self.held.push((key, row));
        if self.held.len() > MAX_TEST_ROWS {
            let (_, largest) = self.held.pop().expect("the heap is not empty");
            train(&largest);
        }
    }

    /// Ends the pass: sends the held rows that are not test rows to `train`, returns the test rows.
    pub fn finish(self, train: &mut impl FnMut(&str)) -> Vec<String> {
        let test_count = usize::try_from(self.rows / TEST_FRACTION_DENOMINATOR)
            .unwrap_or(MAX_TEST_ROWS)
            .min(MAX_TEST_ROWS);
        let mut held = self.held.into_sorted_vec();
        for (_, row) in held.drain(test_count..) {
            train(&row);
        }
        held.into_iter().map(|(_, row)| row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(rows: usize, seed: u64) -> (Vec<String>, Vec<String>) {
        let mut selector = Selector::new(seed);
        let mut train = Vec::new();
        for i in 0..rows {
            selector.offer(format!("row {i}"), &mut |r| train.push(r.to_string()));
        }
        let test = selector.finish(&mut |r| train.push(r.to_string()));
        (train, test)
    }

    #[test]
    fn test_is_ten_percent_up_to_four_hundred_and_disjoint_from_train() {
        for (rows, expected) in [(9, 0), (100, 10), (3_999, 399), (10_000, 400)] {
            let (train, test) = split(rows, 7);
            assert_eq!(test.len(), expected, "{rows} rows");
            assert_eq!(train.len() + test.len(), rows);
            assert!(test.iter().all(|t| !train.contains(t)));
        }
    }

    #[test]
    fn the_same_rows_and_seed_give_the_same_split() {
        assert_eq!(split(5_000, 42), split(5_000, 42));
        assert_ne!(split(5_000, 42).1, split(5_000, 43).1);
    }
}

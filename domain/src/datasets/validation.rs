//! Validation: one streaming pass over a file that reads each row, normalises it for the task type,
//! drops degenerate rows by reason, and splits the rest into training and test rows.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::BufRead;

use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64;

use super::images::ArchiveLimits;
use super::normalise::{Reason, normalise};
use super::report::Report;
use super::rows::{FileError, ReadLimits, Row, RowProblem, excerpt, read_rows};
use super::split::Selector;
use super::{Format, Mapping, TaskType};

/// A deployment's rules for accepting a dataset.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub read: ReadLimits,
    /// Fewer usable rows than this and the dataset is refused (Gradients: 2,000).
    pub min_usable_rows: u64,
    /// More empty rows than this share of all rows and the dataset is refused.
    pub max_empty_percent: u64,
    /// Fewer usable image-caption pairs than this and an image dataset is refused.
    pub min_usable_images: u64,
    pub archive: ArchiveLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            read: ReadLimits::default(),
            min_usable_rows: 2_000,
            max_empty_percent: 80,
            min_usable_images: 10,
            archive: ArchiveLimits::default(),
        }
    }
}

/// How the secret test rows are chosen.
#[derive(Clone, Debug)]
pub enum Holdout {
    /// The Gradients rule: `min(10 %, 400)` usable rows, chosen by a hash seeded with this.
    Seeded(u64),
    /// The owner's own test rows, by the hash of their normalised form: every usable row trains,
    /// except one equal to a test row.
    Own(HashSet<u64>),
}

/// The hash that identifies a normalised row (for duplicates and the owner's own test rows).
pub fn row_hash(normalised: &str) -> u64 {
    xxh3_64(normalised.as_bytes())
}

/// What validation produced besides the training rows it streamed out.
#[derive(Debug)]
pub struct Validated {
    pub report: Report,
    /// The secret test rows, normalised (at most 400; none with `Holdout::Own`).
    pub test_rows: Vec<String>,
}

/// Validates and splits the rows of `reader`. Training rows (normalised JSON, no newline) go to `train`
/// as soon as they are known to be training rows; the test rows are returned at the end. JSONL files are
/// parsed and normalised on every core; rows are still counted, deduplicated and split in file order,
/// so the result is the same as a sequential pass.
pub fn validate(
    format: Format,
    reader: impl BufRead + Send,
    task_type: TaskType,
    mapping: &Mapping,
    holdout: Holdout,
    limits: &Limits,
    train: &mut (impl FnMut(&str) + Send),
) -> Result<Validated, FileError> {
    let mut tally = Tally::new(holdout, limits, limits.min_usable_rows);
    let assess = |row: Result<Row, RowProblem>| assess(task_type, mapping, limits, row);
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    if format == Format::Jsonl && workers > 1 {
        tally = parallel::validate_jsonl(reader, limits, workers, &assess, tally, train)?;
    } else {
        read_rows(format, reader, &limits.read, |line, row| {
            tally.add(line, assess(row), train)
        })?;
    }
    Ok(tally.finish(train))
}

/// What one row comes to, decided without looking at any other row.
pub(super) enum Outcome {
    Usable(String),
    Dropped {
        reason: Reason,
        detail: String,
        excerpt: String,
        empty: bool,
    },
}

fn assess(
    task_type: TaskType,
    mapping: &Mapping,
    limits: &Limits,
    row: Result<Row, RowProblem>,
) -> Outcome {
    let dropped = |reason, detail: String, excerpt: String, empty| Outcome::Dropped {
        reason,
        detail,
        excerpt,
        empty,
    };
    let row = match row {
        Ok(row) => row,
        Err(RowProblem::Blank) => {
            return dropped(
                Reason::Blank,
                "the row is empty".into(),
                String::new(),
                true,
            );
        }
        Err(RowProblem::Unparseable { message, excerpt }) => {
            return dropped(Reason::Unparseable, message, excerpt, false);
        }
        Err(RowProblem::TooLarge { bytes }) => {
            let detail = format!(
                "the row has {bytes} bytes; the limit is {} bytes",
                limits.read.max_row_bytes
            );
            return dropped(Reason::TooLarge, detail, String::new(), false);
        }
    };
    match normalise(task_type, mapping, &row) {
        Ok(normalised) => Outcome::Usable(normalised),
        Err(rejection) => {
            let empty =
                rejection.reason == Reason::EmptyRequiredField && all_mapped_empty(&row, mapping);
            dropped(
                rejection.reason,
                rejection.detail,
                excerpt(Value::Object(row).to_string().as_bytes()),
                empty,
            )
        }
    }
}

/// The part of validation that needs every row in file order: counting, duplicates and the split.
pub(super) struct Tally<'l> {
    report: Report,
    // Exact duplicates are found by a 64-bit hash of the normalised row: 8 bytes a row, and the chance
    // that two different rows of a 10-million-row file collide is about 3 in a million.
    seen: HashSet<u64, BuildHasherDefault<PassThrough>>,
    /// Picks the test rows; `None` when the owner gave their own.
    selector: Option<Selector>,
    own_test: HashSet<u64>,
    limits: &'l Limits,
    min_usable: u64,
}

impl<'l> Tally<'l> {
    pub(super) fn new(holdout: Holdout, limits: &'l Limits, min_usable: u64) -> Self {
        let (selector, own_test) = match holdout {
            Holdout::Seeded(seed) => (Some(Selector::new(seed)), HashSet::new()),
            Holdout::Own(rows) => (None, rows),
        };
        Tally {
            report: Report::default(),
            seen: HashSet::default(),
            selector,
            own_test,
            limits,
            min_usable,
        }
    }

    pub(super) fn add(&mut self, line: u64, outcome: Outcome, train: &mut impl FnMut(&str)) {
        self.report.total_rows += 1;
        match outcome {
            Outcome::Usable(normalised) => {
                let hash = row_hash(&normalised);
                if !self.seen.insert(hash) {
                    self.report.reject(
                        Reason::Duplicate,
                        line,
                        || "the same as an earlier row".into(),
                        || excerpt(normalised.as_bytes()),
                    );
                } else if self.own_test.contains(&hash) {
                    self.report.reject(
                        Reason::Duplicate,
                        line,
                        || {
                            "the same as a row of your test file (kept there, not trained on)"
                                .into()
                        },
                        || excerpt(normalised.as_bytes()),
                    );
                } else {
                    self.report.usable_rows += 1;
                    match &mut self.selector {
                        Some(selector) => selector.offer(normalised, train),
                        None => train(&normalised),
                    }
                }
            }
            Outcome::Dropped {
                reason,
                detail,
                excerpt,
                empty,
            } => {
                self.report.empty_rows += u64::from(empty);
                self.report.reject(reason, line, || detail, || excerpt);
            }
        }
    }

    pub(super) fn finish(self, train: &mut impl FnMut(&str)) -> Validated {
        let mut report = self.report;
        let test_rows = self
            .selector
            .map_or_else(Vec::new, |selector| selector.finish(train));
        report.test_rows = test_rows.len() as u64;
        report.train_rows = report.usable_rows - report.test_rows;
        report.refusal = refusal(&report, self.limits, self.min_usable);
        Validated { report, test_rows }
    }
}

/// JSONL on several cores: this thread cuts the file into batches of lines, workers parse and assess
/// them, and one thread tallies the outcomes batch by batch in file order.
mod parallel {
    use std::collections::BTreeMap;
    use std::io::BufRead;
    use std::sync::mpsc::sync_channel;
    use std::sync::{Arc, Mutex};

    use super::super::rows::{self, FileError, Line, Row, RowProblem};
    use super::{Limits, Outcome, Tally};

    const BATCH_LINES: usize = 2_048;

    type Batch = (u64, Vec<(u64, Result<Vec<u8>, RowProblem>)>);

    pub(super) fn validate_jsonl<'l>(
        mut reader: impl BufRead + Send,
        limits: &Limits,
        workers: usize,
        assess: &(impl Fn(Result<Row, RowProblem>) -> Outcome + Sync),
        mut tally: Tally<'l>,
        train: &mut (impl FnMut(&str) + Send),
    ) -> Result<Tally<'l>, FileError> {
        std::thread::scope(|scope| {
            let (batches, to_assess) = sync_channel::<Batch>(workers * 2);
            let to_assess = Arc::new(Mutex::new(to_assess));
            let (assessed, to_tally) = sync_channel::<(u64, Vec<(u64, Outcome)>)>(workers * 2);
            for _ in 0..workers {
                let (to_assess, assessed) = (to_assess.clone(), assessed.clone());
                scope.spawn(move || {
                    loop {
                        let next = to_assess
                            .lock()
                            .expect("no worker panics holding the lock")
                            .recv();
                        let Ok((index, lines)) = next else { return };
                        let outcomes = lines
                            .into_iter()
                            .map(|(line, raw)| {
                                (
                                    line,
                                    assess(raw.and_then(|bytes| rows::parse_object(&bytes))),
                                )
                            })
                            .collect();
                        if assessed.send((index, outcomes)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(assessed);
            let tallier = scope.spawn(move || {
                let mut waiting = BTreeMap::new();
                let mut next = 0u64;
                for (index, outcomes) in to_tally {
                    waiting.insert(index, outcomes);
                    while let Some(outcomes) = waiting.remove(&next) {
                        for (line, outcome) in outcomes {
                            tally.add(line, outcome, train);
                        }
                        next += 1;
                    }
                }
                tally
            });

            let read = read_batches(&mut reader, limits, |batch| batches.send(batch).is_ok());
            drop(batches);
            let tally = tallier.join().expect("the tally thread does not panic");
            read.map(|()| tally)
        })
    }

    /// Reads the lines of `reader` in numbered batches; stops early if `send` returns false.
    fn read_batches(
        reader: &mut impl BufRead,
        limits: &Limits,
        mut send: impl FnMut(Batch) -> bool,
    ) -> Result<(), FileError> {
        rows::skip_bom(reader).map_err(rows::io_error)?;
        let mut buf = Vec::with_capacity(4096);
        let (mut number, mut index) = (0u64, 0u64);
        let mut batch = Vec::with_capacity(BATCH_LINES);
        while let Some(line) =
            rows::next_line(reader, &mut buf, limits.read.max_row_bytes).map_err(rows::io_error)?
        {
            number += 1;
            let raw = match line {
                Line::TooLarge(bytes) => Err(RowProblem::TooLarge { bytes }),
                Line::Complete if buf.iter().all(u8::is_ascii_whitespace) => Err(RowProblem::Blank),
                Line::Complete => Ok(buf.clone()),
            };
            batch.push((number, raw));
            if batch.len() == BATCH_LINES {
                if !send((
                    index,
                    std::mem::replace(&mut batch, Vec::with_capacity(BATCH_LINES)),
                )) {
                    return Ok(());
                }
                index += 1;
            }
        }
        if !batch.is_empty() {
            send((index, batch));
        }
        Ok(())
    }
}

fn all_mapped_empty(row: &Row, mapping: &Mapping) -> bool {
    mapping.iter().all(|(_, column)| match row.get(column) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    })
}

fn refusal(report: &Report, limits: &Limits, min_usable: u64) -> Option<String> {
    if report.total_rows == 0 {
        return Some("the file has no rows".into());
    }
    if report.empty_rows * 100 > report.total_rows * limits.max_empty_percent {
        return Some(format!(
            "{} of {} rows are empty ({}%); at most {}% may be",
            report.empty_rows,
            report.total_rows,
            report.empty_rows * 100 / report.total_rows,
            limits.max_empty_percent
        ));
    }
    if report.usable_rows < min_usable {
        return Some(format!(
            "only {} of {} rows are usable; at least {min_usable} are needed (see the rejected rows below)",
            report.usable_rows, report.total_rows
        ));
    }
    None
}

/// The duplicate set's keys are already hashes: pass them through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

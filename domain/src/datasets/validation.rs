//! Validation: one streaming pass over a file that reads each row, normalises it for the task type,
//! drops degenerate rows by reason, and splits the rest into training and test rows.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::BufRead;

use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64;

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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            read: ReadLimits::default(),
            min_usable_rows: 2_000,
            max_empty_percent: 80,
        }
    }
}

/// What validation produced besides the training rows it streamed out.
#[derive(Debug)]
pub struct Validated {
    pub report: Report,
    /// The secret test rows, normalised (at most 400).
    pub test_rows: Vec<String>,
}

/// Validates and splits the rows of `reader`. Training rows (normalised JSON, no newline) go to `train`
/// as soon as they are known to be training rows; the test rows are returned at the end.
pub fn validate(
    format: Format,
    reader: impl BufRead,
    task_type: TaskType,
    mapping: &Mapping,
    seed: u64,
    limits: &Limits,
    train: &mut impl FnMut(&str),
) -> Result<Validated, FileError> {
    let mut report = Report::default();
    // Exact duplicates are found by a 64-bit hash of the normalised row: 8 bytes a row, and the chance
    // that two different rows of a 10-million-row file collide is about 3 in a million.
    let mut seen: HashSet<u64, BuildHasherDefault<PassThrough>> = HashSet::default();
    let mut selector = Selector::new(seed);

    read_rows(format, reader, &limits.read, |line, row| {
        report.total_rows += 1;
        let row = match row {
            Ok(row) => row,
            Err(problem) => return reject_unread(&mut report, line, problem, limits),
        };
        match normalise(task_type, mapping, &row) {
            Ok(normalised) => {
                if seen.insert(xxh3_64(normalised.as_bytes())) {
                    report.usable_rows += 1;
                    selector.offer(normalised, train);
                } else {
                    report.reject(
                        Reason::Duplicate,
                        line,
                        || "the same as an earlier row".into(),
                        || excerpt(normalised.as_bytes()),
                    );
                }
            }
            Err(rejection) => {
                if rejection.reason == Reason::EmptyRequiredField && all_mapped_empty(&row, mapping)
                {
                    report.empty_rows += 1;
                }
                report.reject(
                    rejection.reason,
                    line,
                    || rejection.detail,
                    || excerpt(Value::Object(row).to_string().as_bytes()),
                );
            }
        }
    })?;

    let test_rows = selector.finish(train);
    report.test_rows = test_rows.len() as u64;
    report.train_rows = report.usable_rows - report.test_rows;
    report.refusal = refusal(&report, limits);
    Ok(Validated { report, test_rows })
}

fn reject_unread(report: &mut Report, line: u64, problem: RowProblem, limits: &Limits) {
    match problem {
        RowProblem::Blank => {
            report.empty_rows += 1;
            report.reject(
                Reason::Blank,
                line,
                || "the row is empty".into(),
                String::new,
            );
        }
        RowProblem::Unparseable { message, excerpt } => {
            report.reject(Reason::Unparseable, line, || message, || excerpt)
        }
        RowProblem::TooLarge { bytes } => report.reject(
            Reason::TooLarge,
            line,
            || {
                format!(
                    "the row has {bytes} bytes; the limit is {} bytes",
                    limits.read.max_row_bytes
                )
            },
            String::new,
        ),
    }
}

fn all_mapped_empty(row: &Row, mapping: &Mapping) -> bool {
    mapping.iter().all(|(_, column)| match row.get(column) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    })
}

fn refusal(report: &Report, limits: &Limits) -> Option<String> {
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
    if report.usable_rows < limits.min_usable_rows {
        return Some(format!(
            "only {} of {} rows are usable; at least {} are needed (see the rejected rows below)",
            report.usable_rows, report.total_rows, limits.min_usable_rows
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

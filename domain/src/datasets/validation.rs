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

impl Outcome {
    pub(super) fn usable(row: String, seed: u64) -> Outcome {
        Outcome::Usable {
            hash: row_hash(&row),
            key: Selector::key(seed, &row),
            row,
        }
    }
}

impl Holdout {
    /// The seed of the split's keys (unused with the owner's own test rows).
    fn seed(&self) -> u64 {
        match self {
            Holdout::Seeded(seed) => *seed,
            Holdout::Own(_) => 0,
        }
    }
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
    let seed = holdout.seed();
    let mut tally = Tally::new(holdout, limits, limits.min_usable_rows);
    let assess = |row: Result<Row, RowProblem>| assess(task_type, mapping, limits, seed, row);
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    if format == Format::Jsonl && workers > 1 {
        tally = parallel::validate_jsonl(reader, limits, workers, &assess, tally, train)?;
    } else {
        read_rows(format, reader, &limits.read, |line, row| {
            tally.add(line, assess(row), train)
        })?;
    }
    let mut validated = tally.finish(train);
    if task_type == TaskType::Dpo && mapping.column("prompt").is_none() {
        validated.report.notes.push(IMPLICIT_PROMPT.into());
    }
    Ok(validated)
}

/// What the report says of preference rows without a prompt column (the Anthropic HH-RLHF layout).
pub const IMPLICIT_PROMPT: &str = "no prompt column is mapped: each row's prompt is the beginning its \
     chosen and rejected transcripts share, and the answers are what follows (as TRL takes an \
     implicit prompt)";

/// What one row comes to, decided without looking at any other row.
pub(super) enum Outcome {
    /// A usable row, with its `row_hash` and its split key, computed where the row was assessed.
    Usable { row: String, hash: u64, key: u64 },
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
    seed: u64,
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
        Ok(normalised) => Outcome::usable(normalised, seed),
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
            Outcome::Usable {
                row: normalised,
                hash,
                key,
            } => {
                // A duplicate's text is never shown: the row it repeats may be a test row.
                if !self.seen.insert(hash) {
                    self.report.reject(
                        Reason::Duplicate,
                        line,
                        || "the same as an earlier row (not shown: it may be in the secret test split)".into(),
                        String::new,
                    );
                } else if self.own_test.contains(&hash) {
                    self.report.reject(
                        Reason::Duplicate,
                        line,
                        || {
                            "the same as a row of your test file (kept there, not trained on)"
                                .into()
                        },
                        String::new,
                    );
                } else {
                    self.report.usable_rows += 1;
                    match &mut self.selector {
                        Some(selector) => selector.offer_keyed(key, normalised, train),
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

/// JSONL on several cores: this thread reads the file in blocks of whole lines, workers split, parse
/// and assess them, and one thread tallies the outcomes block by block in file order.
mod parallel {
    use std::collections::BTreeMap;
    use std::io::BufRead;
    use std::sync::mpsc::sync_channel;
    use std::sync::{Arc, Mutex};

    use super::super::rows::{self, FileError, Row, RowProblem};
    use super::{Limits, Outcome, Tally};

    /// About this many bytes of lines go to a worker at a time.
    const BLOCK_BYTES: usize = 1024 * 1024;

    /// A piece of the file: whole lines, or one line over the size limit (its length).
    enum Block {
        Lines(Vec<u8>),
        TooLarge(u64),
    }

    pub(super) fn validate_jsonl<'l>(
        mut reader: impl BufRead + Send,
        limits: &Limits,
        workers: usize,
        assess: &(impl Fn(Result<Row, RowProblem>) -> Outcome + Sync),
        mut tally: Tally<'l>,
        train: &mut (impl FnMut(&str) + Send),
    ) -> Result<Tally<'l>, FileError> {
        let max_row_bytes = limits.read.max_row_bytes;
        std::thread::scope(|scope| {
            let (blocks, to_assess) = sync_channel::<(u64, Block)>(workers * 2);
            let to_assess = Arc::new(Mutex::new(to_assess));
            let (assessed, to_tally) = sync_channel::<(u64, Vec<Outcome>)>(workers * 2);
            for _ in 0..workers {
                let (to_assess, assessed) = (to_assess.clone(), assessed.clone());
                scope.spawn(move || {
                    loop {
                        let next = to_assess
                            .lock()
                            .expect("no worker panics holding the lock")
                            .recv();
                        let Ok((index, block)) = next else { return };
                        let outcomes = match block {
                            Block::Lines(bytes) => lines(&bytes)
                                .map(|line| assess(read_line(line, max_row_bytes)))
                                .collect(),
                            Block::TooLarge(bytes) => {
                                vec![assess(Err(RowProblem::TooLarge { bytes }))]
                            }
                        };
                        if assessed.send((index, outcomes)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(assessed);
            let tallier = scope.spawn(move || {
                let mut waiting = BTreeMap::new();
                let (mut next, mut line) = (0u64, 0u64);
                for (index, outcomes) in to_tally {
                    waiting.insert(index, outcomes);
                    while let Some(outcomes) = waiting.remove(&next) {
                        for outcome in outcomes {
                            line += 1;
                            tally.add(line, outcome, train);
                        }
                        next += 1;
                    }
                }
                tally
            });

            let read = read_blocks(&mut reader, max_row_bytes, |block| {
                blocks.send(block).is_ok()
            });
            drop(blocks);
            let tally = tallier.join().expect("the tally thread does not panic");
            read.map(|()| tally)
        })
    }

    /// The lines of a block, without their line endings (a block ends with a newline or the file).
    fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
        let block = block.strip_suffix(b"\n").unwrap_or(block);
        block
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
    }

    fn read_line(line: &[u8], max_row_bytes: usize) -> Result<Row, RowProblem> {
        if line.len() > max_row_bytes {
            Err(RowProblem::TooLarge {
                bytes: line.len() as u64,
            })
        } else if line.iter().all(u8::is_ascii_whitespace) {
            Err(RowProblem::Blank)
        } else {
            rows::parse_object(line)
        }
    }

    /// Reads `reader` in numbered blocks of whole lines; stops early if `send` returns false. A line
    /// longer than `max_row_bytes` is not kept: only its length is sent.
    fn read_blocks(
        reader: &mut impl BufRead,
        max_row_bytes: usize,
        mut send: impl FnMut((u64, Block)) -> bool,
    ) -> Result<(), FileError> {
        rows::skip_bom(reader).map_err(rows::io_error)?;
        let mut index = 0u64;
        let mut send_numbered = |block: Block| {
            let sent = send((index, block));
            index += 1;
            sent
        };
        loop {
            let mut block = Vec::with_capacity(BLOCK_BYTES + 64 * 1024);
            // Where the block's last (maybe unfinished) line starts.
            let mut line_start = 0;
            // Fill the block to its size, then to the end of a line.
            let ended_with_line = loop {
                let available = reader.fill_buf().map_err(rows::io_error)?;
                if available.is_empty() {
                    break false;
                }
                if block.len() >= BLOCK_BYTES
                    && let Some(at) = memchr::memchr(b'\n', available)
                {
                    block.extend_from_slice(&available[..=at]);
                    reader.consume(at + 1);
                    break true;
                }
                let appended_at = block.len();
                block.extend_from_slice(available);
                let taken = available.len();
                reader.consume(taken);
                if let Some(at) = memchr::memrchr(b'\n', &block[appended_at..]) {
                    line_start = appended_at + at + 1;
                }
                // A line too long to keep: drop it, counting its bytes to the end of the line.
                if block.len() - line_start > max_row_bytes {
                    let mut length = (block.len() - line_start) as u64;
                    block.truncate(line_start);
                    let more = skip_line(reader, &mut length)?;
                    if !block.is_empty() && !send_numbered(Block::Lines(block)) {
                        return Ok(());
                    }
                    if !send_numbered(Block::TooLarge(length)) || !more {
                        return Ok(());
                    }
                    block = Vec::with_capacity(BLOCK_BYTES + 64 * 1024);
                    line_start = 0;
                }
            };
            if !block.is_empty() && !send_numbered(Block::Lines(block)) {
                return Ok(());
            }
            if !ended_with_line {
                return Ok(());
            }
        }
    }

    /// Consumes the rest of a line, adding its bytes to `length`; false if the file ended first.
    fn skip_line(reader: &mut impl BufRead, length: &mut u64) -> Result<bool, FileError> {
        loop {
            let available = reader.fill_buf().map_err(rows::io_error)?;
            if available.is_empty() {
                return Ok(false);
            }
            match memchr::memchr(b'\n', available) {
                Some(at) => {
                    *length += at as u64;
                    reader.consume(at + 1);
                    return Ok(true);
                }
                None => {
                    let taken = available.len();
                    *length += taken as u64;
                    reader.consume(taken);
                }
            }
        }
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
        let see = if report.usable_rows < report.total_rows {
            " (see the rejected rows below)"
        } else {
            ""
        };
        return Some(format!(
            "only {} of {} rows are usable; at least {min_usable} are needed{see}",
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs one validation path: the parallel JSONL reader, or the sequential one every format has.
    fn run(bytes: &[u8], parallel: bool, limits: &Limits) -> (Report, Vec<String>, Vec<String>) {
        let mapping = Mapping::new([
            ("instruction".into(), "q".into()),
            ("output".into(), "a".into()),
        ]);
        let assess = |row| assess(TaskType::Instruct, &mapping, limits, 5, row);
        let mut train = Vec::new();
        let mut tally = Tally::new(Holdout::Seeded(5), limits, 1);
        let mut keep = |row: &str| train.push(row.to_string());
        if parallel {
            tally = parallel::validate_jsonl(bytes, limits, 3, &assess, tally, &mut keep).unwrap();
        } else {
            read_rows(Format::Jsonl, bytes, &limits.read, |line, row| {
                tally.add(line, assess(row), &mut keep)
            })
            .unwrap();
        }
        let validated = tally.finish(&mut keep);
        (validated.report, validated.test_rows, train)
    }

    #[test]
    fn the_parallel_reader_gives_what_the_sequential_one_gives() {
        // Several blocks of lines with every kind of defect, lines over the limit among them (one
        // longer than a block), CRLF endings, a BOM and no newline at the end.
        let mut text = String::from("\u{feff}");
        for i in 0..40_000 {
            let line = match i % 97 {
                3 if i % 4_001 == 3 => {
                    format!(
                        "{{\"q\": \"{}\", \"a\": \"huge\"}}",
                        "y".repeat(3 * 1024 * 1024 / 2)
                    )
                }
                0 => String::new(),
                1 => "not json".to_string(),
                2 => format!("{{\"q\": \"{}\", \"a\": \"long\"}}", "x".repeat(5_000)),
                4 => "{\"q\": \"Question 7 here?\", \"a\": \"Answer 7 here.\"}\r".to_string(),
                5 => "{\"q\": \"\", \"a\": \"\"}".to_string(),
                _ => format!("{{\"q\": \"Question {i} here?\", \"a\": \"Answer {i} here.\"}}"),
            };
            text.push_str(&line);
            text.push('\n');
        }
        text.push_str("{\"q\": \"The last question?\", \"a\": \"Without a newline.\"}");
        let limits = Limits {
            read: ReadLimits {
                max_row_bytes: 4_096,
                ..ReadLimits::default()
            },
            ..Limits::default()
        };
        let sequential = run(text.as_bytes(), false, &limits);
        let parallel = run(text.as_bytes(), true, &limits);
        assert!(sequential.0.rejected[&Reason::TooLarge].count > 400);
        assert_eq!(sequential.0.total_rows, 40_001);
        assert_eq!(parallel.0, sequential.0);
        assert_eq!(parallel.1, sequential.1);
        assert_eq!(parallel.2, sequential.2);
    }
}

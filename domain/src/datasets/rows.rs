//! Reading a file's rows, one at a time, in the formats customers upload. A row that cannot be read
//! is reported with its line (or item) number and reading goes on; a file whose structure is broken
//! (a malformed JSON array, an unreadable CSV header) ends with a `FileError` that says where.

use std::io::BufRead;

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::format::Format;

/// A row as read: column name → value. CSV values are strings.
pub type Row = Map<String, Value>;

/// Why a row could not be read; the row is counted and skipped.
#[derive(Clone, Debug, PartialEq)]
pub enum RowProblem {
    /// An empty line, or a CSV row whose fields are all empty.
    Blank,
    Unparseable {
        message: String,
        excerpt: String,
    },
    TooLarge {
        bytes: u64,
    },
}

/// Why a whole file cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

#[derive(Clone, Copy, Debug)]
pub struct ReadLimits {
    /// A row (a line, an item, a CSV record) longer than this is refused.
    pub max_row_bytes: usize,
    pub max_columns: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_row_bytes: 1024 * 1024,
            max_columns: 1024,
        }
    }
}

const EXCERPT_CHARS: usize = 160;

/// The first characters of a row, for reports.
pub fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(EXCERPT_CHARS * 4)]);
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if out.len() < text.len() || bytes.len() > EXCERPT_CHARS * 4 {
        out.push('…');
    }
    out
}

/// Calls `on_row(number, row)` for every row of `reader`, in order. Numbers are 1-based lines for JSONL
/// and CSV, item positions for a JSON array.
pub fn read_rows<R: BufRead>(
    format: Format,
    mut reader: R,
    limits: &ReadLimits,
    mut on_row: impl FnMut(u64, Result<Row, RowProblem>),
) -> Result<(), FileError> {
    skip_bom(&mut reader).map_err(io_error)?;
    match format {
        Format::Jsonl => read_jsonl(reader, limits, &mut on_row),
        Format::JsonArray => read_json_array(reader, &mut on_row),
        Format::Csv { delimiter, header } => {
            read_csv(reader, delimiter, header, limits, &mut on_row)
        }
        Format::Parquet => super::parquet_rows::read_parquet(reader, limits, &mut on_row),
        Format::Zip => Err(FileError(
            "a zip archive is an image dataset; choose the image task type for it".into(),
        )),
    }
}

pub(super) fn io_error(err: std::io::Error) -> FileError {
    FileError(format!("the file could not be read to the end: {err}"))
}

/// Copies `reader` to an anonymous temporary file, rewound, with its length: for formats whose index
/// is at the end of the file (Parquet, zip), read with bounded memory.
pub(super) fn spool(mut reader: impl std::io::Read) -> Result<(std::fs::File, u64), FileError> {
    use std::io::Seek;
    let mut spooled = tempfile::tempfile().map_err(io_error)?;
    let length = std::io::copy(&mut reader, &mut spooled).map_err(io_error)?;
    spooled.rewind().map_err(io_error)?;
    Ok((spooled, length))
}

pub(super) fn skip_bom<R: BufRead>(reader: &mut R) -> std::io::Result<()> {
    if reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(())
}

/// What reading one line found.
pub(super) enum Line {
    Complete,
    TooLarge(u64),
}

/// Reads the next line into `buf` (without its line ending), keeping at most `max` bytes of it.
pub(super) fn next_line<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<Line>> {
    buf.clear();
    let (mut total, mut read_any) = (0u64, false);
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        read_any = true;
        let (chunk, used, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        total += chunk.len() as u64;
        if total as usize <= max {
            buf.extend_from_slice(chunk);
        }
        reader.consume(used);
        if done {
            break;
        }
    }
    if !read_any {
        return Ok(None);
    }
    if total as usize > max {
        buf.clear();
        return Ok(Some(Line::TooLarge(total)));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Some(Line::Complete))
}

fn read_jsonl<R: BufRead>(
    mut reader: R,
    limits: &ReadLimits,
    on_row: &mut impl FnMut(u64, Result<Row, RowProblem>),
) -> Result<(), FileError> {
    let mut buf = Vec::with_capacity(4096);
    let mut number = 0u64;
    while let Some(line) =
        next_line(&mut reader, &mut buf, limits.max_row_bytes).map_err(io_error)?
    {
        number += 1;
        let row = match line {
            Line::TooLarge(bytes) => Err(RowProblem::TooLarge { bytes }),
            Line::Complete if buf.iter().all(u8::is_ascii_whitespace) => Err(RowProblem::Blank),
            Line::Complete => parse_object(&buf),
        };
        on_row(number, row);
    }
    Ok(())
}

pub(super) fn parse_object(line: &[u8]) -> Result<Row, RowProblem> {
    let unparseable = |message: String| RowProblem::Unparseable {
        message,
        excerpt: excerpt(line),
    };
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(row)) => Ok(row),
        Ok(_) => Err(unparseable(
            "the line is JSON but not an object ({…})".into(),
        )),
        Err(err) => Err(unparseable(format!("not valid JSON: {err}"))),
    }
}

fn read_json_array<R: BufRead>(
    reader: R,
    on_row: &mut impl FnMut(u64, Result<Row, RowProblem>),
) -> Result<(), FileError> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let malformed =
        |err: serde_json::Error| FileError(format!("the JSON array is malformed: {err}"));
    ArrayItems { on_row }
        .deserialize(&mut deserializer)
        .map_err(malformed)?;
    deserializer.end().map_err(malformed)
}

/// Visits the items of a JSON array one at a time, never holding the whole array.
struct ArrayItems<'a, F> {
    on_row: &'a mut F,
}

impl<'de, F: FnMut(u64, Result<Row, RowProblem>)> DeserializeSeed<'de> for ArrayItems<'_, F> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(u64, Result<Row, RowProblem>)> Visitor<'de> for ArrayItems<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of JSON objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let mut number = 0u64;
        while let Some(item) = items.next_element::<Value>()? {
            number += 1;
            let row = match item {
                Value::Object(row) => Ok(row),
                other => Err(RowProblem::Unparseable {
                    message: "the item is not a JSON object ({…})".into(),
                    excerpt: excerpt(other.to_string().as_bytes()),
                }),
            };
            (self.on_row)(number, row);
        }
        Ok(())
    }
}

fn read_csv<R: BufRead>(
    reader: R,
    delimiter: u8,
    header: bool,
    limits: &ReadLimits,
    on_row: &mut impl FnMut(u64, Result<Row, RowProblem>),
) -> Result<(), FileError> {
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(header)
        .from_reader(reader);
    let mut columns = if header {
        let names = csv
            .byte_headers()
            .map_err(|err| FileError(format!("the CSV header cannot be read: {err}")))?
            .clone();
        header_names(&names, limits)?
    } else {
        Vec::new()
    };
    let mut record = csv::ByteRecord::new();
    loop {
        let more = csv
            .read_byte_record(&mut record)
            .map_err(|err| FileError(format!("the CSV file cannot be read: {err}")))?;
        if !more {
            return Ok(());
        }
        // Without a header, the first row's width names the columns: column_1, column_2, …
        if columns.is_empty() {
            columns = (1..=record.len().min(limits.max_columns))
                .map(|i| format!("column_{i}"))
                .collect();
        }
        let line = record.position().map_or(0, csv::Position::line);
        on_row(line, csv_row(&record, &columns, limits));
    }
}

/// What to say when a CSV header looks like a row of data.
const NO_HEADER_HINT: &str = "if the first row is data, not a header, upload the file with \
     has_header=false (the columns are then named column_1, column_2, …)";

fn header_names(header: &csv::ByteRecord, limits: &ReadLimits) -> Result<Vec<String>, FileError> {
    if header.len() > limits.max_columns {
        return Err(FileError(format!(
            "the CSV header has {} columns; at most {} are allowed",
            header.len(),
            limits.max_columns
        )));
    }
    // Numbers, or a name given twice, are what a first row of data looks like.
    let looks_like_data = header
        .iter()
        .any(|raw| std::str::from_utf8(raw).is_ok_and(|name| name.trim().parse::<f64>().is_ok()));
    let hint = if looks_like_data {
        format!("; the first row looks like data: {NO_HEADER_HINT}")
    } else {
        format!("; {NO_HEADER_HINT}")
    };
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw)
            .map_err(|_| {
                FileError(format!(
                    "column {} of the CSV header is not valid UTF-8",
                    i + 1
                ))
            })?
            .trim()
            .to_string();
        if name.is_empty() {
            return Err(FileError(format!(
                "column {} of the CSV header has no name; name every column{hint}",
                i + 1
            )));
        }
        if names.contains(&name) {
            return Err(FileError(format!(
                "the CSV header names column \"{name}\" twice; column names must be unique{hint}"
            )));
        }
        names.push(name);
    }
    Ok(names)
}

fn csv_row(
    record: &csv::ByteRecord,
    columns: &[String],
    limits: &ReadLimits,
) -> Result<Row, RowProblem> {
    let bytes = record.as_slice().len();
    if bytes > limits.max_row_bytes {
        return Err(RowProblem::TooLarge {
            bytes: bytes as u64,
        });
    }
    let unparseable = |message: String| RowProblem::Unparseable {
        message,
        excerpt: excerpt(record.as_slice()),
    };
    if record.len() != columns.len() {
        let spans_lines = record.iter().any(|field| field.contains(&b'\n'));
        let hint = if spans_lines {
            " (an unclosed quote may have joined it with the lines after it)"
        } else {
            ""
        };
        return Err(unparseable(format!(
            "the row has {} fields; the header has {}{hint}",
            record.len(),
            columns.len()
        )));
    }
    if record
        .iter()
        .all(|field| field.iter().all(u8::is_ascii_whitespace))
    {
        return Err(RowProblem::Blank);
    }
    let mut row = Row::new();
    for (column, field) in columns.iter().zip(record.iter()) {
        let text = std::str::from_utf8(field)
            .map_err(|_| unparseable(format!("column \"{column}\" is not valid UTF-8 text")))?;
        row.insert(column.clone(), Value::String(text.to_string()));
    }
    Ok(row)
}

/// The columns named by the first `rows` readable rows of `head` (the start of a file), in order of
/// first appearance, with those rows. `head` may end mid-row: what it cuts off is ignored.
pub fn sample(
    format: Format,
    head: &[u8],
    rows: usize,
) -> Result<(Vec<String>, Vec<Row>), FileError> {
    let mut columns: Vec<String> = Vec::new();
    let mut sampled = Vec::new();
    let mut first_problem: Option<(u64, RowProblem)> = None;
    let outcome = read_rows(
        format,
        head,
        &ReadLimits::default(),
        |number, row| match row {
            Ok(row) if sampled.len() < rows => {
                for key in row.keys() {
                    if !columns.contains(key) {
                        columns.push(key.clone());
                    }
                }
                sampled.push(row);
            }
            Ok(_) | Err(RowProblem::Blank) => {}
            Err(problem) => {
                if sampled.is_empty() && first_problem.is_none() {
                    first_problem = Some((number, problem));
                }
            }
        },
    );
    // A head that ends inside its first line (it holds no line break) was cut from a first row at
    // least as long as the limit for one row.
    let limit = ReadLimits::default().max_row_bytes;
    if sampled.is_empty() && head.len() >= limit && !head.contains(&b'\n') {
        let bytes = head.len() as u64;
        first_problem = Some((1, RowProblem::TooLarge { bytes }));
    }
    match outcome {
        Ok(()) if sampled.is_empty() => Err(no_rows(format, first_problem)),
        Ok(()) if columns.is_empty() => Err(FileError(
            "no column can be found: the rows hold no named fields; give each row its fields by \
             name (JSON objects, or a CSV header)"
                .into(),
        )),
        Ok(()) => Ok((columns, sampled)),
        Err(_) if !sampled.is_empty() => Ok((columns, sampled)),
        Err(err) => Err(err),
    }
}

/// Why a file whose beginning holds no row of data cannot be a dataset: its first unreadable row.
fn no_rows(format: Format, first_problem: Option<(u64, RowProblem)>) -> FileError {
    let unit = if format == Format::JsonArray {
        "item"
    } else {
        "line"
    };
    FileError(match first_problem {
        Some((number, RowProblem::Unparseable { message, excerpt })) => format!(
            "{unit} {number} cannot be read ({message}; it starts {excerpt:?}), and no row before \
             it can: check that the file is JSONL, JSON, CSV or Parquet, saved as UTF-8"
        ),
        Some((number, RowProblem::TooLarge { bytes })) => format!(
            "{unit} {number} is over the limit for one row ({bytes} bytes or more; at most {} \
             bytes): is the file one row per line?",
            ReadLimits::default().max_row_bytes
        ),
        _ if matches!(format, Format::Csv { .. }) => {
            "the CSV file has a header but no rows below it".into()
        }
        _ => "the file holds no row of data".into(),
    })
}

//! Reading the rows of a Parquet file. Parquet keeps its schema and row-group index at the end of the
//! file, so the file is first spooled to a temporary file (bounded memory, one pass over the upload);
//! rows are then read one row group at a time and turned into the same JSON rows the text formats give.

use std::io::BufRead;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use serde_json::{Map, Number, Value};

use super::rows::{FileError, ReadLimits, Row, RowProblem, excerpt, spool};

/// Calls `on_row(number, row)` for every row of the Parquet file `reader` holds; numbers are 1-based.
pub fn read_parquet<R: BufRead>(
    reader: R,
    limits: &ReadLimits,
    on_row: &mut impl FnMut(u64, Result<Row, RowProblem>),
) -> Result<(), FileError> {
    let file = open(reader, limits)?;
    guarded(|| {
        let rows = file.get_row_iter(None).map_err(damaged)?;
        for (index, row) in rows.enumerate() {
            let number = index as u64 + 1;
            let row = row.map_err(|err| damaged(format!("row {number}: {err}")))?;
            on_row(number, convert(row, limits));
        }
        Ok(())
    })
}

/// The columns of the Parquet file `reader` holds (from its schema) and its first `rows` readable rows.
pub fn sample_parquet<R: BufRead>(
    reader: R,
    rows: usize,
) -> Result<(Vec<String>, Vec<Row>), FileError> {
    let limits = ReadLimits::default();
    let file = open(reader, &limits)?;
    guarded(|| {
        let columns = file
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema()
            .get_fields()
            .iter()
            .map(|field| field.name().to_string())
            .collect();
        let mut sampled = Vec::new();
        for row in file.get_row_iter(None).map_err(damaged)? {
            if sampled.len() == rows {
                break;
            }
            if let Ok(row) = convert(row.map_err(damaged)?, &limits) {
                sampled.push(row);
            }
        }
        Ok((columns, sampled))
    })
}

/// Spools `reader` to a temporary file and opens it as Parquet, checking its number of columns.
fn open<R: BufRead>(
    reader: R,
    limits: &ReadLimits,
) -> Result<SerializedFileReader<std::fs::File>, FileError> {
    let (spooled, _) = spool(reader)?;
    let file = guarded(|| SerializedFileReader::new(spooled).map_err(damaged))?;
    let columns = file
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .len();
    if columns > limits.max_columns {
        return Err(FileError(format!(
            "the Parquet file has {columns} columns; at most {} are allowed",
            limits.max_columns
        )));
    }
    Ok(file)
}

/// Runs `read`, turning a panic in the Parquet reader into a refusal: it should return errors for
/// damaged files, but a file crafted to hit a panic in it must not take the worker down with it.
fn guarded<T>(read: impl FnOnce() -> Result<T, FileError>) -> Result<T, FileError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
        .unwrap_or_else(|_| Err(damaged("the reader stopped on an inconsistency")))
}

fn damaged(why: impl std::fmt::Display) -> FileError {
    FileError(format!(
        "this is not a readable Parquet file ({why}); export it again, or as JSONL or CSV"
    ))
}

fn convert(row: parquet::record::Row, limits: &ReadLimits) -> Result<Row, RowProblem> {
    let mut bytes = 0usize;
    let mut out = Map::new();
    for (name, field) in row.into_columns() {
        bytes += name.len();
        out.insert(name, to_json(field, &mut bytes));
    }
    if bytes > limits.max_row_bytes {
        Err(RowProblem::TooLarge {
            bytes: bytes as u64,
        })
    } else if out.values().all(is_blank) {
        Err(RowProblem::Blank)
    } else {
        Ok(out)
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// The JSON value of a Parquet field; `bytes` grows by the size of its text, to apply the row limit.
fn to_json(field: Field, bytes: &mut usize) -> Value {
    let number = |n: Number, bytes: &mut usize| {
        *bytes += 8;
        Value::Number(n)
    };
    let float = |f: f64, bytes: &mut usize| {
        *bytes += 8;
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    };
    match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(b),
        Field::Byte(n) => number(n.into(), bytes),
        Field::Short(n) => number(n.into(), bytes),
        Field::Int(n) => number(n.into(), bytes),
        Field::Long(n) => number(n.into(), bytes),
        Field::UByte(n) => number(n.into(), bytes),
        Field::UShort(n) => number(n.into(), bytes),
        Field::UInt(n) => number(n.into(), bytes),
        Field::ULong(n) => number(n.into(), bytes),
        Field::Float16(f) => float(f.to_f64(), bytes),
        Field::Float(f) => float(f.into(), bytes),
        Field::Double(f) => float(f, bytes),
        Field::Str(s) => {
            *bytes += s.len();
            Value::String(s)
        }
        // Binary columns holding text (common from older writers) read as text; other bytes as an
        // excerpt, which the mapping then refuses as the wrong type for a text field.
        Field::Bytes(raw) => {
            *bytes += raw.len();
            match std::str::from_utf8(raw.data()) {
                Ok(text) => Value::String(text.to_string()),
                Err(_) => Value::Array(vec![Value::String(format!(
                    "binary: {}",
                    excerpt(raw.data())
                ))]),
            }
        }
        Field::Group(row) => {
            let mut out = Map::new();
            for (name, field) in row.into_columns() {
                *bytes += name.len();
                out.insert(name, to_json(field, bytes));
            }
            Value::Object(out)
        }
        Field::ListInternal(list) => Value::Array(
            list.elements()
                .iter()
                .map(|field| to_json(field.clone(), bytes))
                .collect(),
        ),
        Field::MapInternal(map) => {
            let mut out = Map::new();
            for (key, value) in map.entries() {
                let key = match key {
                    Field::Str(s) => s.clone(),
                    other => other.to_string(),
                };
                *bytes += key.len();
                out.insert(key, to_json(value.clone(), bytes));
            }
            Value::Object(out)
        }
        // Dates, times, timestamps and decimals as the text Parquet's own display gives them.
        other => {
            let text = other.to_string();
            *bytes += text.len();
            Value::String(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use testkit::files::{parquet_ints, parquet_text};

    use super::*;

    /// Each row read, with its number.
    type Read = Vec<(u64, Result<Row, RowProblem>)>;

    fn read(file: &[u8]) -> Result<Read, FileError> {
        let mut rows = Vec::new();
        read_parquet(file, &ReadLimits::default(), &mut |n, row| {
            rows.push((n, row))
        })?;
        Ok(rows)
    }

    fn texts(rows: &[[&str; 2]]) -> Vec<Vec<String>> {
        rows.iter().map(|r| r.map(String::from).to_vec()).collect()
    }

    #[test]
    fn reads_text_columns_as_json_rows() {
        let file = parquet_text(
            &["question", "answer"],
            &texts(&[["What is 2+2?", "4"], ["  ", ""]]),
        );
        let rows = read(&file).unwrap();
        assert_eq!(rows.len(), 2);
        let first = rows[0].1.as_ref().unwrap();
        assert_eq!(first["question"], "What is 2+2?");
        assert_eq!(first["answer"], "4");
        assert_eq!(rows[1], (2, Err(RowProblem::Blank)));
    }

    #[test]
    fn numbers_stay_numbers() {
        let rows = read(&parquet_ints("n", &[7, -1])).unwrap();
        assert_eq!(rows[1].1.as_ref().unwrap()["n"], -1);
    }

    #[test]
    fn the_sample_names_the_schema_columns() {
        let file = parquet_text(&["a", "b"], &texts(&[["1", "2"], ["3", "4"], ["5", "6"]]));
        let (columns, rows) = sample_parquet(&file[..], 2).unwrap();
        assert_eq!(columns, ["a", "b"]);
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn a_truncated_file_is_refused_with_the_reason() {
        let file = parquet_text(&["a"], &[vec!["x".to_string()]]);
        let err = read(&file[..file.len() - 10]).unwrap_err();
        assert!(err.0.contains("not a readable Parquet file"), "{err}");
    }
}

//! Recognising a file's format from its first bytes, not its name.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// One JSON array of objects.
    JsonArray,
    /// Comma- or semicolon-separated values, with a header row naming the columns unless `header` is
    /// false (the owner says the first row is data; the columns are then `column_1`, `column_2`, …).
    Csv {
        delimiter: u8,
        #[serde(default = "first_row_is_the_header")]
        header: bool,
    },
    Parquet,
    Zip,
}

fn first_row_is_the_header() -> bool {
    true
}

impl Format {
    /// This CSV format with its first row read as data, as its owner says; other formats have no header.
    pub fn without_header(self) -> Result<Format, String> {
        match self {
            Format::Csv { delimiter, .. } => Ok(Format::Csv {
                delimiter,
                header: false,
            }),
            other => Err(format!(
                "has_header=false is for CSV files; this file is {}",
                other.name()
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "JSONL",
            Format::JsonArray => "JSON array",
            Format::Csv { .. } => "CSV",
            Format::Parquet => "Parquet",
            Format::Zip => "zip",
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The format of a file that starts with `head` (its first few KiB), or why it has none we read.
/// The longest first line that is taken as the header of a one-column CSV.
const MAX_LONE_HEADER: usize = 64;

/// The first 40 characters of `bytes`, as text.
fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(160)])
        .chars()
        .take(40)
        .collect()
}

pub fn detect(head: &[u8]) -> Result<Format, String> {
    if head.is_empty() {
        return Err("the file is empty".into());
    }
    if head.starts_with(b"PAR1") {
        return Ok(Format::Parquet);
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(Format::Zip);
    }
    let text = head.strip_prefix(BOM).unwrap_or(head);
    let first = text.iter().position(|b| !b.is_ascii_whitespace());
    let Some(first) = first else {
        return Err("the file holds only whitespace".into());
    };
    match text[first] {
        b'{' => return Ok(Format::Jsonl),
        b'[' => return Ok(Format::JsonArray),
        b'<' => {
            return Err(format!(
                "this looks like HTML or XML (it starts {:?}), not data: a page saved from a \
                 browser is not the dataset; download the file itself as JSONL, JSON, CSV or Parquet",
                excerpt(&text[first..])
            ));
        }
        _ => {}
    }
    // Text with a header line: CSV, if the header is valid UTF-8 and has a delimiter.
    let line_end = text.iter().position(|&b| b == b'\n').unwrap_or(text.len());
    let header = &text[..line_end];
    let readable = match std::str::from_utf8(header) {
        Ok(_) => true,
        // The head may cut a character in two at its end.
        Err(err) => line_end == text.len() && err.error_len().is_none(),
    };
    if !readable || header.contains(&0) {
        let shown: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return Err(format!(
            "this is not JSONL, JSON, CSV or Parquet: it starts with the bytes {}; export your data as one of those",
            shown.join(" ")
        ));
    }
    let count = |d: u8| header.iter().filter(|&&b| b == d).count();
    // A header without a delimiter names one column; a long line of text is prose, not a header.
    if count(b',') == 0 && count(b';') == 0 && header.len() > MAX_LONE_HEADER {
        return Err(format!(
            "the first line is not a CSV header (no comma or semicolon, and {} characters of text: \
             {:?}); this looks like text, not data: export your data as JSONL, JSON, CSV or Parquet",
            header.len(),
            excerpt(header)
        ));
    }
    let delimiter = if count(b';') > count(b',') {
        b';'
    } else {
        b','
    };
    Ok(Format::Csv {
        delimiter,
        header: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_format_by_content() {
        assert_eq!(detect(b"{\"a\":1}\n"), Ok(Format::Jsonl));
        assert_eq!(
            detect(b"\xEF\xBB\xBF  [ {\"a\":1} ]"),
            Ok(Format::JsonArray)
        );
        assert_eq!(
            detect(b"a,b\n1,2\n"),
            Ok(Format::Csv {
                delimiter: b',',
                header: true
            })
        );
        assert_eq!(
            detect(b"a;b;c\n1;2;3\n"),
            Ok(Format::Csv {
                delimiter: b';',
                header: true
            })
        );
        assert_eq!(detect(b"PAR1...."), Ok(Format::Parquet));
        assert_eq!(detect(b"PK\x03\x04...."), Ok(Format::Zip));
    }

    #[test]
    fn refuses_pages_and_prose_that_are_not_data() {
        let page = detect(b"\n<!DOCTYPE html>\n<html><body>Not found</body></html>").unwrap_err();
        assert!(
            page.contains("HTML") && page.contains("<!DOCTYPE html>"),
            "{page}"
        );
        let prose =
            detect(b"This dataset holds questions and answers about our products and services\n")
                .unwrap_err();
        assert!(prose.contains("not a CSV header"), "{prose}");
        assert_eq!(
            detect(b"prompt\nWrite a haiku\n"),
            Ok(Format::Csv {
                delimiter: b',',
                header: true
            }),
            "a one-column CSV keeps its short header"
        );
    }

    #[test]
    fn refuses_empty_and_binary_files_with_the_reason() {
        assert_eq!(detect(b""), Err("the file is empty".into()));
        assert!(detect(b"  \n\t").unwrap_err().contains("only whitespace"));
        assert!(
            detect(b"\x7fELF\x02\x01\x00\x00")
                .unwrap_err()
                .contains("7f 45 4c 46")
        );
    }
}

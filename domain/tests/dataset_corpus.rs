//! A corpus of malformed files, each with the error a customer must get. Every case runs through the
//! same pipeline the platform runs: format detection, then validation and split.

use std::io::{Cursor, Read, Write};

use domain::datasets::format::detect;
use domain::datasets::normalise::Reason;
use domain::datasets::rows::ReadLimits;
use domain::datasets::{Format, images};
use domain::datasets::{Holdout, Limits, Mapping, TaskType, Validated, validate};
use testkit::files::{image_zip, parquet_ints, parquet_text, png, zip_of};

/// Detects the format and validates, as the platform does; `Err` is the message a file-level refusal shows.
fn run(
    bytes: &[u8],
    task_type: TaskType,
    mapping: &Mapping,
    limits: &Limits,
) -> Result<(Validated, Vec<String>), String> {
    let format = detect(&bytes[..bytes.len().min(64 * 1024)])?;
    if format == Format::Zip {
        let mut validated = images::validate_images(bytes, 7, limits).map_err(|err| err.0)?;
        let mut index = String::new();
        validated.train_index.read_to_string(&mut index).unwrap();
        let train = index.lines().map(String::from).collect();
        let validated = Validated {
            report: validated.report,
            test_rows: Vec::new(),
        };
        return Ok((validated, train));
    }
    let mut train = Vec::new();
    let validated = validate(
        format,
        bytes,
        task_type,
        mapping,
        Holdout::Seeded(7),
        limits,
        &mut |row| train.push(row.to_string()),
    )
    .map_err(|err| err.0)?;
    Ok((validated, train))
}

fn instruct() -> Mapping {
    Mapping::new([
        ("instruction".into(), "q".into()),
        ("output".into(), "a".into()),
    ])
}

fn lenient() -> Limits {
    Limits {
        min_usable_rows: 1,
        ..Limits::default()
    }
}

/// A good instruct row for filling files around a defect.
fn good(i: usize) -> String {
    format!("{{\"q\": \"Question number {i}?\", \"a\": \"Answer number {i}.\"}}\n")
}

fn with_good_rows(defect: &str) -> Vec<u8> {
    let mut text = good(1) + &good(2);
    text.push_str(defect);
    text.push_str(&good(3));
    text.into_bytes()
}

enum Expect {
    /// The whole file is refused with a message containing this.
    FileRefused(&'static str),
    /// The file is read but the dataset refused, with a message containing this.
    DatasetRefused(&'static str),
    /// A row at this line (or item) is dropped for this reason, with a detail containing the text.
    Row(Reason, u64, &'static str),
    /// Read cleanly: this many usable rows.
    Usable(u64),
}

fn check(
    name: &str,
    bytes: Vec<u8>,
    task_type: TaskType,
    mapping: Mapping,
    limits: Limits,
    expect: Expect,
) {
    let outcome = run(&bytes, task_type, &mapping, &limits);
    match (expect, outcome) {
        (Expect::FileRefused(text), Err(message)) => {
            assert!(message.contains(text), "{name}: got {message:?}")
        }
        (Expect::DatasetRefused(text), Ok((v, _))) => {
            let refusal = v
                .report
                .refusal
                .clone()
                .unwrap_or_else(|| panic!("{name}: not refused: {:?}", v.report));
            assert!(refusal.contains(text), "{name}: got {refusal:?}");
        }
        (Expect::Row(reason, line, text), Ok((v, _))) => {
            let rejected = v
                .report
                .rejected
                .get(&reason)
                .unwrap_or_else(|| panic!("{name}: no {reason:?} in {:?}", v.report));
            let example = rejected.examples.iter().find(|e| e.line == line);
            let example = example.unwrap_or_else(|| {
                panic!(
                    "{name}: no {reason:?} at line {line}: {:?}",
                    rejected.examples
                )
            });
            assert!(
                example.detail.contains(text),
                "{name}: detail {:?}",
                example.detail
            );
            assert!(v.report.refusal.is_none(), "{name}: {:?}", v.report.refusal);
        }
        (Expect::Usable(n), Ok((v, train))) => {
            assert_eq!(v.report.usable_rows, n, "{name}: {:?}", v.report);
            assert_eq!(train.len() as u64 + v.report.test_rows, n, "{name}");
        }
        (_, outcome) => panic!(
            "{name}: unexpected outcome {:?}",
            outcome.map(|(v, _)| v.report)
        ),
    }
}

#[test]
fn file_level_defects_are_refused_with_their_reason() {
    use Expect::*;
    let t = TaskType::Instruct;
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("empty file", vec![], FileRefused("the file is empty")),
        (
            "only whitespace",
            b"  \n\n\t \n".to_vec(),
            FileRefused("only whitespace"),
        ),
        (
            "an executable",
            b"\x7fELF\x02\x01\x01\x00\x00\x00".to_vec(),
            FileRefused("not JSONL, JSON, CSV or Parquet"),
        ),
        (
            "a PNG image",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec(),
            FileRefused("not JSONL, JSON, CSV or Parquet"),
        ),
        (
            "a Latin-1 CSV header",
            b"caf\xe9,a\nx,y\n".to_vec(),
            FileRefused("not JSONL, JSON, CSV or Parquet"),
        ),
        (
            "a truncated Parquet file",
            b"PAR1\x15\x04\x15\x10".to_vec(),
            FileRefused("not a readable Parquet file"),
        ),
        (
            "a Parquet file cut before its footer",
            {
                let file = parquet_text(&["q", "a"], &[vec!["Question?".into(), "Answer.".into()]]);
                file[..file.len() - 12].to_vec()
            },
            FileRefused("not a readable Parquet file"),
        ),
        (
            "Parquet with the wrong schema (numbers where text is mapped)",
            parquet_ints("q", &[1, 2, 3]),
            DatasetRefused("only 0 of 3 rows are usable"),
        ),
        (
            "a truncated zip archive",
            b"PK\x03\x04\x14\x00\x00\x00".to_vec(),
            FileRefused("not a readable zip archive"),
        ),
        (
            "a truncated JSON array",
            br#"[{"q": "Question one?", "a": "Answer one."}, {"q": "Quest"#.to_vec(),
            FileRefused("the JSON array is malformed"),
        ),
        (
            "a JSON array with trailing text",
            br#"[{"q": "Question one?", "a": "Answer one."}] and more"#.to_vec(),
            FileRefused("the JSON array is malformed"),
        ),
        (
            "a JSON array missing a comma",
            br#"[{"q": "Question one?", "a": "Answer."} {"q": "x", "a": "y"}]"#.to_vec(),
            FileRefused("the JSON array is malformed"),
        ),
        (
            "a CSV header only",
            b"q,a\n".to_vec(),
            DatasetRefused("the file has no rows"),
        ),
        (
            "a CSV with 10,000 columns",
            (0..10_000)
                .map(|i| format!("c{i}"))
                .collect::<Vec<_>>()
                .join(",")
                .into_bytes(),
            FileRefused("at most 1024 are allowed"),
        ),
        (
            "a CSV naming a column twice",
            b"q,a,q\n1,2,3\n".to_vec(),
            FileRefused("names column \"q\" twice"),
        ),
        (
            "a CSV with an unnamed column",
            b"q,,a\n1,2,3\n".to_vec(),
            FileRefused("column 2 of the CSV header has no name"),
        ),
        (
            "a lone JSON string",
            b"\"just a string\"".to_vec(),
            DatasetRefused("the file has no rows"),
        ),
        (
            "mostly empty rows",
            [good(1), "\n".repeat(9)].concat().into_bytes(),
            DatasetRefused("rows are empty"),
        ),
    ];
    for (name, bytes, expect) in cases {
        check(name, bytes, t, instruct(), lenient(), expect);
    }
}

fn images() -> Limits {
    Limits {
        min_usable_images: 1,
        ..Limits::default()
    }
}

/// Eight good pairs around a defect.
fn pairs_with(defect: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut entries: Vec<(String, Vec<u8>)> = (0..8)
        .flat_map(|i| {
            [
                (format!("good-{i}.png"), png(32 + i, 32, i as u8)),
                (
                    format!("good-{i}.txt"),
                    format!("a good caption {i}").into_bytes(),
                ),
            ]
        })
        .collect();
    entries.extend(defect.iter().map(|(n, b)| (n.to_string(), b.clone())));
    let borrowed: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    zip_of(&borrowed)
}

#[test]
fn image_archive_defects_are_refused_or_dropped_with_their_reason() {
    use Expect::*;
    let t = TaskType::Image;
    let symlinked = {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        out.add_symlink("cat.png", "/etc/shadow", options).unwrap();
        out.start_file("cat.txt", options).unwrap();
        out.write_all(b"a cat").unwrap();
        out.finish().unwrap().into_inner()
    };
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "zip slip with ..",
            pairs_with(&[("../../etc/x.png", png(8, 8, 0)), ("x.txt", b"x".to_vec())]),
            FileRefused("outside the archive"),
        ),
        (
            "zip slip hidden mid-path",
            pairs_with(&[("a/b/../../../x.png", png(8, 8, 0))]),
            FileRefused("outside the archive"),
        ),
        (
            "an absolute path",
            pairs_with(&[("/tmp/x.png", png(8, 8, 0))]),
            FileRefused("outside the archive"),
        ),
        (
            "a Windows drive path",
            pairs_with(&[("C:\\x.png", png(8, 8, 0))]),
            FileRefused("outside the archive"),
        ),
        ("a symbolic link", symlinked, FileRefused("symbolic link")),
        (
            "a zip bomb (20 MiB of zeros)",
            pairs_with(&[
                ("bomb.png", vec![0; 20 * 1024 * 1024]),
                ("bomb.txt", b"boom".to_vec()),
            ]),
            FileRefused("zip bomb"),
        ),
        (
            "an image without a caption",
            pairs_with(&[("lonely.png", png(9, 9, 1))]),
            Row(Reason::Unpaired, 17, "has no caption file"),
        ),
        (
            "a caption without an image",
            pairs_with(&[("orphan.txt", b"a caption".to_vec())]),
            Row(Reason::Unpaired, 17, "has no image"),
        ),
        (
            "text named .png",
            pairs_with(&[
                ("fake.png", b"hello, not an image".to_vec()),
                ("fake.txt", b"caption".to_vec()),
            ]),
            Row(Reason::WrongType, 17, "not a PNG, JPEG or WebP"),
        ),
        (
            "a GIF",
            pairs_with(&[
                ("anim.gif", b"GIF89a....".to_vec()),
                ("anim.txt", b"caption".to_vec()),
            ]),
            Row(Reason::Unpaired, 18, "has no image"),
        ),
        (
            "a PNG cut before its size",
            pairs_with(&[
                ("cut.png", png(9, 9, 0)[..14].to_vec()),
                ("cut.txt", b"caption".to_vec()),
            ]),
            Row(Reason::Unparseable, 17, "dimensions cannot be read"),
        ),
        (
            "an empty caption",
            pairs_with(&[("blank.png", png(9, 9, 2)), ("blank.txt", b"  \n".to_vec())]),
            Row(Reason::EmptyRequiredField, 17, "caption file is empty"),
        ),
        (
            "a caption that is not UTF-8",
            pairs_with(&[
                ("latin.png", png(9, 9, 3)),
                ("latin.txt", b"caf\xe9".to_vec()),
            ]),
            Row(Reason::Unparseable, 17, "not UTF-8"),
        ),
        (
            "the same image twice",
            pairs_with(&[
                ("again.png", png(32, 32, 0)),
                ("again.txt", b"another caption".to_vec()),
            ]),
            Row(Reason::Duplicate, 17, "the same image as entry 1"),
        ),
        (
            "a file of another kind",
            pairs_with(&[("notes.pdf", b"%PDF-1.4".to_vec())]),
            Row(Reason::WrongType, 17, "neither an image"),
        ),
        ("only pairs: all usable", image_zip(12, &[]), Usable(12)),
    ];
    for (name, bytes, expect) in cases {
        check(name, bytes, t, Mapping::default(), images(), expect);
    }
}

/// What an upload's inspection says of `bytes`: its columns, or why the file cannot be a dataset.
fn inspect(bytes: &[u8]) -> Result<Vec<String>, String> {
    let head = &bytes[..bytes.len().min(1024 * 1024)];
    let format = detect(head)?;
    domain::datasets::rows::sample(format, head, 5)
        .map(|(columns, _)| columns)
        .map_err(|err| err.0)
}

#[test]
fn files_that_cannot_become_a_dataset_are_refused_at_upload_with_the_line() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "invalid UTF-8 (a Latin-1 export)",
            b"{\"q\": \"caf\xe9\", \"a\": \"x\"}\n{\"q\": \"na\xefve\", \"a\": \"y\"}\n".to_vec(),
            "line 1 cannot be read",
        ),
        (
            "an HTML page",
            b"<!doctype html><html><head><title>Dataset</title></head></html>\n".to_vec(),
            "looks like HTML",
        ),
        (
            "prose",
            b"Thank you for downloading our dataset. Please read the licence before use.\n"
                .to_vec(),
            "not a CSV header",
        ),
        (
            "a first row over the row limit",
            format!("{{\"q\": \"{}\", \"a\": \"x\"}}\n", "a".repeat(1_100_000)).into_bytes(),
            "line 1 is over the limit for one row",
        ),
        (
            "a JSON array of numbers",
            b"[1, 2, 3, 4]".to_vec(),
            "item 1 cannot be read",
        ),
        (
            "a CSV with only a header",
            b"question,answer\n".to_vec(),
            "header but no rows",
        ),
        (
            "rows without fields",
            b"{}\n{}\n{}\n".to_vec(),
            "no column can be found",
        ),
    ];
    for (what, bytes, says) in cases {
        match inspect(&bytes) {
            Err(why) => assert!(why.contains(says), "{what}: {why}"),
            Ok(columns) => panic!("{what} was accepted with columns {columns:?}"),
        }
    }
    // One unreadable line among good ones is a rejected row at validation, not a refused file.
    let mixed = [b"{\"q\": \"caf\xe9\"}\n".to_vec(), with_good_rows("")].concat();
    assert!(inspect(&mixed).is_ok());
}

#[test]
fn preference_transcripts_without_a_prompt_column_share_their_prompt() {
    // The Anthropic HH-RLHF layout: two whole transcripts per row, the same up to the last answer.
    let mut file = String::new();
    for i in 0..30 {
        let talk =
            format!("\n\nHuman: How do I keep basil number {i} alive indoors?\n\nAssistant:");
        let row = serde_json::json!({
            "chosen": format!("{talk} Give it a sunny window and water it when the soil is dry."),
            "rejected": format!("{talk} Basil cannot grow indoors."),
        });
        file.push_str(&row.to_string());
        file.push('\n');
    }
    let columns = vec!["chosen".to_string(), "rejected".to_string()];
    let mapping = Mapping::suggest(TaskType::Dpo, &columns);
    mapping
        .check(TaskType::Dpo, &columns)
        .expect("chosen and rejected are enough");
    let (validated, train) = run(file.as_bytes(), TaskType::Dpo, &mapping, &lenient()).unwrap();
    assert_eq!(validated.report.usable_rows, 30, "{:?}", validated.report);
    assert!(
        validated
            .report
            .notes
            .iter()
            .any(|n| n.contains("implicit prompt")),
        "{:?}",
        validated.report.notes
    );
    let row: serde_json::Value = serde_json::from_str(&train[0]).unwrap();
    let prompt = row["prompt"].as_str().unwrap();
    assert!(
        prompt.starts_with("\n\nHuman: How do I keep basil") && prompt.ends_with("Assistant:"),
        "{row}"
    );
    assert!(
        row["chosen"]
            .as_str()
            .unwrap()
            .starts_with(" Give it a sunny window"),
        "{row}"
    );
    assert!(
        row["rejected"]
            .as_str()
            .unwrap()
            .starts_with(" Basil cannot"),
        "{row}"
    );
    // Transcripts with nothing in common cannot give a prompt: those rows are rejected, with why.
    let unrelated = r#"{"chosen": "Yes, gladly.", "rejected": "No."}"#.to_string() + "\n";
    let (validated, _) = run(unrelated.as_bytes(), TaskType::Dpo, &mapping, &lenient()).unwrap();
    let rejected = &validated.report.rejected[&Reason::EmptyRequiredField];
    assert!(
        rejected.examples[0].detail.contains("share no beginning"),
        "{rejected:?}"
    );
}

#[test]
fn too_few_usable_rows_are_refused_with_the_numbers() {
    let bytes: String = (0..50).map(good).collect();
    check(
        "50 rows",
        bytes.into_bytes(),
        TaskType::Instruct,
        instruct(),
        Limits::default(),
        Expect::DatasetRefused("only 50 of 50 rows are usable; at least 2000 are needed"),
    );
}

#[test]
fn row_level_defects_are_dropped_by_reason_with_their_line() {
    use Expect::Row;
    use Reason::*;
    let t = TaskType::Instruct;
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("a truncated last line", [good(1), good(2), r#"{"q": "Quest"#.into()].concat().into_bytes(), Row(Unparseable, 3, "not valid JSON")),
        ("invalid UTF-8 in a line", with_good_rows("{\"q\": \"caf\u{e9}?\", \"a\": \"X\u{ff}\"}\n").into_iter().map(|b| if b == 0xc3 { 0xff } else { b }).collect(), Row(Unparseable, 3, "not valid JSON")),
        ("a line that is a JSON array", with_good_rows("[1, 2, 3]\n"), Row(Unparseable, 3, "not an object")),
        ("a line that is a number", with_good_rows("42\n"), Row(Unparseable, 3, "not an object")),
        ("a line with a raw NUL byte", with_good_rows("{\"q\": \"a\0b\", \"a\": \"answer here\"}\n"), Row(Unparseable, 3, "not valid JSON")),
        ("a blank line", with_good_rows("\n"), Row(Blank, 3, "empty")),
        ("a 50 MiB single line", with_good_rows(&format!("{{\"q\": \"{}\", \"a\": \"b\"}}\n", "x".repeat(50 * 1024 * 1024))), Row(TooLarge, 3, "the limit is 1048576 bytes")),
        ("an answer that is a number", with_good_rows("{\"q\": \"What is six times seven?\", \"a\": 42}\n"), Row(WrongType, 3, "holds a number, not text")),
        ("an answer that is an object", with_good_rows("{\"q\": \"What is six times seven?\", \"a\": {\"n\": 42}}\n"), Row(WrongType, 3, "holds an object")),
        ("an answer that is true", with_good_rows("{\"q\": \"Is the sky blue today?\", \"a\": true}\n"), Row(WrongType, 3, "true/false")),
        ("an answer that is a list", with_good_rows("{\"q\": \"Name two colours please\", \"a\": [\"red\", \"blue\"]}\n"), Row(WrongType, 3, "a list")),
        ("a null answer", with_good_rows("{\"q\": \"What is six times seven?\", \"a\": null}\n"), Row(EmptyRequiredField, 3, "column \"a\" (output) is empty")),
        ("a missing answer", with_good_rows("{\"q\": \"What is six times seven?\"}\n"), Row(EmptyRequiredField, 3, "(output) is empty")),
        ("a whitespace answer", with_good_rows("{\"q\": \"What is six times seven?\", \"a\": \"   \"}\n"), Row(EmptyRequiredField, 3, "(output) is empty")),
        ("a too-short row", with_good_rows("{\"q\": \"Hi\", \"a\": \"Yo\"}\n"), Row(TooShort, 3, "at least 8")),
        ("an exact duplicate", with_good_rows(&good(1)), Row(Duplicate, 3, "the same as an earlier row")),
        ("nesting past the parser's limit", with_good_rows(&format!("{{\"q\": {}1{}, \"a\": \"x\"}}\n", "[".repeat(200), "]".repeat(200))), Row(Unparseable, 3, "recursion limit")),
        ("a CSV with an unclosed quote", b"q,a\nWhat is up today?,Nothing much at all\n\"Unclosed,quote here\nlast,row of the file\n".to_vec(), Row(Unparseable, 3, "unclosed quote")),
        ("a CSV row with too many fields", b"q,a\nWhat is up today?,Nothing much at all\nx,y,z\n".to_vec(), Row(Unparseable, 3, "the row has 3 fields; the header has 2")),
        ("a CSV row with too few fields", b"q,a\nWhat is up today?,Nothing much at all\nonly one\n".to_vec(), Row(Unparseable, 3, "the row has 1 fields; the header has 2")),
        ("a CSV field that is not UTF-8", b"q,a\nWhat is up today?,Nothing much at all\ncaf\xe9 au lait?,Yes please\n".to_vec(), Row(Unparseable, 3, "not valid UTF-8")),
        ("a CSV row of empty fields", b"q,a\nWhat is up today?,Nothing much at all\n,\n".to_vec(), Row(Blank, 3, "empty")),
        ("a JSON array item that is not an object", br#"[{"q": "Question one?", "a": "Answer one."}, "stray text"]"#.to_vec(), Row(Unparseable, 2, "not a JSON object")),
    ];
    for (name, bytes, expect) in cases {
        check(name, bytes, t, instruct(), lenient(), expect);
    }
}

#[test]
fn task_type_defects_are_dropped_by_reason() {
    use Expect::Row;
    use Reason::*;
    let chat = Mapping::new([("messages".into(), "messages".into())]);
    let ok_chat = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello there\"}, {\"role\": \"assistant\", \"content\": \"Hi, how can I help?\"}]}\n";
    let chat_file = |defect: &str| [ok_chat, defect].concat().into_bytes();
    check(
        "a chat of one message",
        chat_file("{\"messages\": [{\"role\": \"user\", \"content\": \"Hello?\"}]}\n"),
        TaskType::Chat,
        chat.clone(),
        lenient(),
        Row(TooFewMessages, 2, "1 of 1 messages are valid"),
    );
    check(
        "a chat with unknown roles",
        chat_file(
            "{\"messages\": [{\"role\": \"narrator\", \"content\": \"Once\"}, {\"role\": \"ghost\", \"content\": \"Boo\"}]}\n",
        ),
        TaskType::Chat,
        chat.clone(),
        lenient(),
        Row(TooFewMessages, 2, "0 of 2"),
    );
    check(
        "chat messages as plain text",
        chat_file("{\"messages\": \"hello, assistant\"}\n"),
        TaskType::Chat,
        chat.clone(),
        lenient(),
        Row(WrongType, 2, "not a list of messages"),
    );
    check(
        "chat messages as a number",
        chat_file("{\"messages\": 3}\n"),
        TaskType::Chat,
        chat,
        lenient(),
        Row(WrongType, 2, "holds a number"),
    );

    let dpo =
        Mapping::new(["prompt", "chosen", "rejected"].map(|r| (r.to_string(), r.to_string())));
    let ok_dpo = "{\"prompt\": \"Write a greeting\", \"chosen\": \"Hello, friend!\", \"rejected\": \"Go away.\"}\n";
    let dpo_file = |defect: &str| [ok_dpo, defect].concat().into_bytes();
    check(
        "DPO with chosen = rejected",
        dpo_file(
            "{\"prompt\": \"Write a greeting\", \"chosen\": \"Hello!\", \"rejected\": \"Hello!\"}\n",
        ),
        TaskType::Dpo,
        dpo.clone(),
        lenient(),
        Row(ChosenEqualsRejected, 2, "identical"),
    );
    check(
        "DPO without a rejected answer",
        dpo_file("{\"prompt\": \"Write a greeting\", \"chosen\": \"Hello!\"}\n"),
        TaskType::Dpo,
        dpo,
        lenient(),
        Row(EmptyRequiredField, 2, "(rejected) is empty"),
    );
}

#[test]
fn well_formed_variants_are_read() {
    let t = TaskType::Instruct;
    let bom_semicolons = b"\xEF\xBB\xBFq;a\nWhat is up today?;Nothing much at all\nAnother question here?;Another answer\n".to_vec();
    check(
        "a CSV with a BOM and semicolons",
        bom_semicolons,
        t,
        instruct(),
        lenient(),
        Expect::Usable(2),
    );
    let embedded = b"q,a\n\"A question\nspanning lines?\",\"An answer, with a comma\"\nSecond question here?,Second answer\n".to_vec();
    check(
        "a CSV with an embedded newline",
        embedded,
        t,
        instruct(),
        lenient(),
        Expect::Usable(2),
    );
    let crlf = (good(1) + &good(2)).replace('\n', "\r\n").into_bytes();
    check(
        "JSONL with CRLF line ends",
        crlf,
        t,
        instruct(),
        lenient(),
        Expect::Usable(2),
    );
    let array = format!(
        "[{}]",
        (0..20)
            .map(|i| good(i).trim().to_string())
            .collect::<Vec<_>>()
            .join(",\n")
    );
    check(
        "a JSON array",
        array.into_bytes(),
        t,
        instruct(),
        lenient(),
        Expect::Usable(20),
    );
    let limits = Limits {
        read: ReadLimits {
            max_row_bytes: 64,
            max_columns: 8,
        },
        min_usable_rows: 1,
        ..Limits::default()
    };
    check(
        "a lower row limit",
        with_good_rows(&format!(
            "{{\"q\": \"{}\", \"a\": \"b\"}}\n",
            "x".repeat(100)
        )),
        t,
        instruct(),
        limits,
        Expect::Row(Reason::TooLarge, 3, "the limit is 64 bytes"),
    );
}

#[test]
fn the_split_is_the_same_for_the_same_file_and_seed() {
    let bytes: String = (0..5_000).map(good).collect();
    let (a, train_a) = run(
        bytes.as_bytes(),
        TaskType::Instruct,
        &instruct(),
        &Limits::default(),
    )
    .unwrap();
    let (b, train_b) = run(
        bytes.as_bytes(),
        TaskType::Instruct,
        &instruct(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!((a.report.train_rows, a.report.test_rows), (4_600, 400));
    assert_eq!(a.test_rows, b.test_rows);
    assert_eq!(train_a, train_b);
    assert!(
        a.test_rows.iter().all(|row| !train_a.contains(row)),
        "no test row is in the training split"
    );
}

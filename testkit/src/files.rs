//! Dataset files for tests, made in memory: Parquet files, PNG headers and zip archives.

use std::io::{Cursor, Write};
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType, Int32Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use zip::write::SimpleFileOptions;

/// A Parquet file with one UTF-8 column per name, each row's values as given.
pub fn parquet_text(columns: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let fields: Vec<String> = columns
        .iter()
        .map(|c| format!("REQUIRED BYTE_ARRAY {c} (UTF8);"))
        .collect();
    let schema = parse_message_type(&format!("message m {{ {} }}", fields.join(" ")))
        .expect("the schema parses");
    let mut out = Vec::new();
    let props = Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(&mut out, Arc::new(schema), props).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut column = 0;
    while let Some(mut writer) = group.next_column().unwrap() {
        let values: Vec<ByteArray> = rows
            .iter()
            .map(|r| ByteArray::from(r[column].as_str()))
            .collect();
        writer
            .typed::<ByteArrayType>()
            .write_batch(&values, None, None)
            .unwrap();
        writer.close().unwrap();
        column += 1;
    }
    group.close().unwrap();
    writer.close().unwrap();
    out
}

/// A Parquet file with one INT32 column.
pub fn parquet_ints(column: &str, values: &[i32]) -> Vec<u8> {
    let schema = parse_message_type(&format!("message m {{ REQUIRED INT32 {column}; }}"))
        .expect("the schema parses");
    let mut out = Vec::new();
    let props = Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(&mut out, Arc::new(schema), props).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut writer_column = group.next_column().unwrap().unwrap();
    writer_column
        .typed::<Int32Type>()
        .write_batch(values, None, None)
        .unwrap();
    writer_column.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();
    out
}

/// The first bytes of a PNG of the given size: its signature and header chunk, enough for the magic
/// bytes and the dimensions (the pixels are not read). `salt` makes images of one size differ.
pub fn png(width: u32, height: u32, salt: u8) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&[8, 6, 0, 0, 0, salt, 0, 0, 0]);
    out
}

/// A zip holding the given (name, contents) entries, deflated.
pub fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        out.start_file(*name, SimpleFileOptions::default()).unwrap();
        out.write_all(bytes).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// A zip of `pairs` images `cat-N.png` (sizes differ) with captions `cat-N.txt` ("a photo of cat number
/// N"), without the entries named in `leave_out`.
pub fn image_zip(pairs: u32, leave_out: &[&str]) -> Vec<u8> {
    let mut entries = Vec::new();
    for i in 0..pairs {
        entries.push((format!("cat-{i}.png"), png(64 + i, 48, i as u8)));
        entries.push((
            format!("cat-{i}.txt"),
            format!("a photo of cat number {i}").into_bytes(),
        ));
    }
    entries.retain(|(name, _)| !leave_out.contains(&name.as_str()));
    let borrowed: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(name, bytes)| (name.as_str(), bytes.clone()))
        .collect();
    zip_of(&borrowed)
}

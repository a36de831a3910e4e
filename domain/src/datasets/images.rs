//! Image datasets: a zip archive of images (PNG, JPEG, WebP), each with its caption in a `.txt` file of
//! the same name (`cat.png` + `cat.txt`). The archive is checked as a whole before any entry is read
//! (unsafe paths, symlinks and zip bombs refuse it), then each pair is checked like a text row and the
//! pairs are split like text rows. Each split is stored twice: an index (one JSON line per pair:
//! image file, caption, width, height) and a zip of the pairs under content-addressed names.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, Read, Seek, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::ZipArchive;
use zip::write::SimpleFileOptions;

use super::normalise::Reason;
use super::report::Report;
use super::rows::{FileError, io_error, spool};
use super::validation::{Holdout, Limits, Outcome, Tally};

/// What an archive may hold before it is refused without being expanded.
#[derive(Clone, Copy, Debug)]
pub struct ArchiveLimits {
    pub max_entries: usize,
    /// The sum of the entries' sizes once expanded.
    pub max_expanded_bytes: u64,
    /// Expanded size over archive size: deflate reaches ~1,000 only on crafted data.
    pub max_ratio: u64,
    pub max_image_bytes: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_entries: 200_000,
            max_expanded_bytes: 16 * 1024 * 1024 * 1024,
            max_ratio: 100,
            max_image_bytes: 50 * 1024 * 1024,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
}

impl ImageFormat {
    /// The format the first bytes of a file announce, if it is one we take.
    pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageFormat::Webp)
        } else {
            None
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Webp => "webp",
        }
    }
}

/// One pair in the normalised index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexLine {
    /// The image's name in the split's zip: its SHA-256 and extension.
    pub image: String,
    pub caption: String,
    pub width: u64,
    pub height: u64,
}

/// The outcome of validating an archive: the report, and the two splits in temporary files (rewound),
/// each an index (JSONL) and a zip of its pairs. The test files are the secret part.
pub struct ValidatedImages {
    pub report: Report,
    pub train_index: File,
    pub train_zip: File,
    pub test_index: File,
    pub test_zip: File,
}

const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "webp"];

/// Validates the image archive `reader` holds and splits its pairs with `seed`.
pub fn validate_images(
    reader: impl BufRead,
    seed: u64,
    limits: &Limits,
) -> Result<ValidatedImages, FileError> {
    let (mut archive, pairs) = open(reader, &limits.archive)?;

    let mut tally = Tally::new(Holdout::Seeded(seed), limits, limits.min_usable_images);
    let mut train_index = tempfile::tempfile().map_err(io_error)?;
    let mut write_error = None;
    // Where each usable pair's image and caption are, by the name the index gives the image.
    let mut usable: HashMap<String, usize> = HashMap::new();
    let mut seen_images: HashMap<[u8; 32], u64> = HashMap::new();
    let mut expanded = 0u64;
    for pair in &pairs {
        let outcome = assess(&mut archive, pair, limits, &mut expanded)?;
        let outcome = match outcome {
            Assessed::Usable { line, sha256 } => match seen_images.get(&sha256) {
                Some(first) => Outcome::Dropped {
                    reason: Reason::Duplicate,
                    detail: format!("the same image as entry {first}"),
                    excerpt: pair.name.clone(),
                    empty: false,
                },
                None => {
                    seen_images.insert(sha256, pair.number);
                    usable.insert(
                        line.image.clone(),
                        pair.image.expect("usable pairs have one"),
                    );
                    let line = serde_json::to_string(&line).expect("a line serialises");
                    Outcome::usable(line, seed)
                }
            },
            Assessed::Dropped(outcome) => outcome,
        };
        tally.add(pair.number, outcome, &mut |row: &str| {
            if write_error.is_none()
                && let Err(err) = writeln!(train_index, "{row}")
            {
                write_error = Some(err);
            }
        });
    }
    let validated = tally.finish(&mut |row: &str| {
        if write_error.is_none()
            && let Err(err) = writeln!(train_index, "{row}")
        {
            write_error = Some(err);
        }
    });
    if let Some(err) = write_error {
        return Err(io_error(err));
    }
    let test_rows = &validated.test_rows;

    // The second pass copies each usable pair into the zip of its split.
    let mut test_index = tempfile::tempfile().map_err(io_error)?;
    for row in test_rows {
        writeln!(test_index, "{row}").map_err(io_error)?;
    }
    let train_zip = write_split(&mut archive, &mut train_index, &usable)?;
    let test_zip = write_split(&mut archive, &mut test_index, &usable)?;
    train_index.rewind().map_err(io_error)?;
    test_index.rewind().map_err(io_error)?;
    Ok(ValidatedImages {
        report: validated.report,
        train_index,
        train_zip,
        test_index,
        test_zip,
    })
}

/// The columns an image dataset shows, and its first `rows` usable pairs (by their names in the
/// archive), for the dataset page. Unsafe archives are refused here already.
pub fn sample_images(
    reader: impl BufRead,
    rows: usize,
) -> Result<(Vec<String>, Vec<super::rows::Row>), FileError> {
    let limits = Limits::default();
    let (mut archive, pairs) = open(reader, &limits.archive)?;
    let mut sampled = Vec::new();
    let mut expanded = 0u64;
    for pair in &pairs {
        if sampled.len() == rows {
            break;
        }
        if let Assessed::Usable { line, .. } = assess(&mut archive, pair, &limits, &mut expanded)? {
            let row = serde_json::json!({
                "image": pair.name,
                "caption": line.caption,
                "width": line.width,
                "height": line.height,
            });
            if let serde_json::Value::Object(row) = row {
                sampled.push(row);
            }
        }
    }
    let columns = ["image", "caption", "width", "height"]
        .map(String::from)
        .to_vec();
    Ok((columns, sampled))
}

fn parse_line(row: &str) -> IndexLine {
    serde_json::from_str(row).expect("index lines are written by this module")
}

/// An image and its caption, as found in the archive; either may be missing.
struct Pair {
    /// The entry number of the image (or the caption, if there is no image), 1-based, for reports.
    number: u64,
    name: String,
    image: Option<usize>,
    caption: Option<usize>,
}

/// Spools the archive `reader` holds to a temporary file, opens it and surveys it.
fn open(
    reader: impl BufRead,
    limits: &ArchiveLimits,
) -> Result<(ZipArchive<File>, Vec<Pair>), FileError> {
    let (spooled, archive_bytes) = spool(reader)?;
    let mut archive = ZipArchive::new(spooled)
        .map_err(|err| FileError(format!("this is not a readable zip archive ({err})")))?;
    let pairs = survey(&mut archive, archive_bytes, limits)?;
    Ok((archive, pairs))
}

/// Checks the archive as a whole from its central directory, and pairs images with captions.
fn survey(
    archive: &mut ZipArchive<File>,
    archive_bytes: u64,
    limits: &ArchiveLimits,
) -> Result<Vec<Pair>, FileError> {
    if archive.len() > limits.max_entries {
        return Err(FileError(format!(
            "the archive has {} entries; at most {} are allowed",
            archive.len(),
            limits.max_entries
        )));
    }
    let mut expanded = 0u64;
    let mut pairs: Vec<Pair> = Vec::new();
    let mut by_stem: HashMap<String, usize> = HashMap::new();
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|err| FileError(format!("entry {} cannot be read: {err}", index + 1)))?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        if unsafe_path(&name) {
            return Err(FileError(format!(
                "entry {} is named \"{name}\", a path outside the archive (absolute or with \"..\"); \
                 archives with such paths are refused",
                index + 1
            )));
        }
        if entry.is_symlink() {
            return Err(FileError(format!(
                "entry {} (\"{name}\") is a symbolic link; archives with links are refused, put the file itself in",
                index + 1
            )));
        }
        expanded = expanded.saturating_add(entry.size());
        if entry.is_dir() || ignored(&name) {
            continue;
        }
        let (stem, extension) = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.ends_with('/') => {
                (stem.to_string(), ext.to_ascii_lowercase())
            }
            _ => (name.clone(), String::new()),
        };
        let number = index as u64 + 1;
        let is_caption = extension == "txt";
        if !is_caption && !IMAGE_EXTENSIONS.contains(&extension.as_str()) {
            // A kind of file we do not take: its own row, dropped.
            pairs.push(Pair {
                number,
                name,
                image: None,
                caption: None,
            });
            continue;
        }
        let slot = *by_stem.entry(stem).or_insert_with(|| {
            pairs.push(Pair {
                number,
                name: name.clone(),
                image: None,
                caption: None,
            });
            pairs.len() - 1
        });
        let pair = &mut pairs[slot];
        match (is_caption, pair.caption, pair.image) {
            (true, None, _) => pair.caption = Some(index),
            (false, _, None) => {
                pair.image = Some(index);
                pair.number = number;
                pair.name = name;
            }
            // A second caption or image for one name (`cat.png` and `cat.jpg`): its own row, unpaired.
            (true, Some(_), _) => pairs.push(Pair {
                number,
                name,
                image: None,
                caption: Some(index),
            }),
            (false, _, Some(_)) => pairs.push(Pair {
                number,
                name,
                image: Some(index),
                caption: None,
            }),
        }
    }
    if expanded > limits.max_expanded_bytes {
        return Err(FileError(format!(
            "the archive expands to {expanded} bytes; at most {} are allowed (a zip bomb?)",
            limits.max_expanded_bytes
        )));
    }
    if expanded > archive_bytes.max(1).saturating_mul(limits.max_ratio) {
        return Err(FileError(format!(
            "the archive expands {}× (from {archive_bytes} to {expanded} bytes); at most {}× is allowed \
             (a zip bomb?)",
            expanded / archive_bytes.max(1),
            limits.max_ratio
        )));
    }
    Ok(pairs)
}

/// An absolute path, a Windows drive or a `..` component.
fn unsafe_path(name: &str) -> bool {
    let bytes = name.as_bytes();
    name.starts_with('/')
        || name.starts_with('\\')
        || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic())
        || name.split(['/', '\\']).any(|part| part == "..")
        || name.contains('\0')
}

/// Files archivers add that are not part of the dataset.
fn ignored(name: &str) -> bool {
    name.starts_with("__MACOSX/")
        || name
            .rsplit('/')
            .next()
            .is_some_and(|file| file.starts_with('.'))
}

enum Assessed {
    Usable { line: IndexLine, sha256: [u8; 32] },
    Dropped(Outcome),
}

fn assess(
    archive: &mut ZipArchive<File>,
    pair: &Pair,
    limits: &Limits,
    expanded: &mut u64,
) -> Result<Assessed, FileError> {
    let dropped = |reason, detail: String| {
        Assessed::Dropped(Outcome::Dropped {
            reason,
            detail,
            excerpt: pair.name.clone(),
            empty: false,
        })
    };
    let (image, caption) = match (pair.image, pair.caption) {
        (Some(image), Some(caption)) => (image, caption),
        (Some(_), None) => {
            return Ok(dropped(
                Reason::Unpaired,
                format!(
                    "\"{}\" has no caption file (a .txt of the same name)",
                    pair.name
                ),
            ));
        }
        (None, Some(_)) => {
            return Ok(dropped(
                Reason::Unpaired,
                format!(
                    "the caption \"{}\" has no image (PNG, JPEG or WebP) of the same name",
                    pair.name
                ),
            ));
        }
        (None, None) => {
            return Ok(dropped(
                Reason::WrongType,
                format!(
                    "\"{}\" is neither an image (.png, .jpg, .webp) nor a caption (.txt)",
                    pair.name
                ),
            ));
        }
    };
    let caption_limit = limits.read.max_row_bytes as u64;
    let Some(caption) = read_entry(archive, caption, caption_limit, &limits.archive, expanded)?
    else {
        return Ok(dropped(
            Reason::TooLarge,
            format!("the caption is over {caption_limit} bytes"),
        ));
    };
    let Ok(caption) = String::from_utf8(caption) else {
        return Ok(dropped(
            Reason::Unparseable,
            "the caption is not UTF-8 text".into(),
        ));
    };
    let caption = caption.trim().to_string();
    if caption.is_empty() {
        return Ok(dropped(
            Reason::EmptyRequiredField,
            "the caption file is empty".into(),
        ));
    }
    let image_limit = limits.archive.max_image_bytes;
    let Some(bytes) = read_entry(archive, image, image_limit, &limits.archive, expanded)? else {
        return Ok(dropped(
            Reason::TooLarge,
            format!("the image is over {image_limit} bytes"),
        ));
    };
    let Some(format) = ImageFormat::sniff(&bytes) else {
        let shown: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return Ok(dropped(
            Reason::WrongType,
            format!(
                "the file is not a PNG, JPEG or WebP image: it starts with the bytes {}",
                shown.join(" ")
            ),
        ));
    };
    let size = match imagesize::blob_size(&bytes) {
        Ok(size) if size.width > 0 && size.height > 0 => size,
        _ => {
            return Ok(dropped(
                Reason::Unparseable,
                format!("the {format:?} image's dimensions cannot be read; the file is damaged"),
            ));
        }
    };
    let sha256: [u8; 32] = Sha256::digest(&bytes).into();
    Ok(Assessed::Usable {
        line: IndexLine {
            image: format!("{}.{}", hex::encode(sha256), format.extension()),
            caption,
            width: size.width as u64,
            height: size.height as u64,
        },
        sha256,
    })
}

/// The expanded bytes of entry `index`, or `None` when it is over `limit`. An entry that expands past
/// the size the archive declares for it, or past the archive's total, refuses the archive.
fn read_entry(
    archive: &mut ZipArchive<File>,
    index: usize,
    limit: u64,
    limits: &ArchiveLimits,
    expanded: &mut u64,
) -> Result<Option<Vec<u8>>, FileError> {
    let entry = archive
        .by_index(index)
        .map_err(|err| FileError(format!("entry {} cannot be read: {err}", index + 1)))?;
    let declared = entry.size();
    if declared > limit {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(declared as usize);
    entry
        .take(declared + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| FileError(format!("entry {} cannot be expanded: {err}", index + 1)))?;
    *expanded += bytes.len() as u64;
    if bytes.len() as u64 > declared || *expanded > limits.max_expanded_bytes {
        return Err(FileError(format!(
            "entry {} expands beyond the size the archive declares for it (a zip bomb?)",
            index + 1
        )));
    }
    Ok(Some(bytes))
}

/// Writes the zip of one split: the pairs of the index lines in `index` (a file, read from its start),
/// as `SHA.ext` and `SHA.txt`.
fn write_split(
    archive: &mut ZipArchive<File>,
    index: &mut File,
    usable: &HashMap<String, usize>,
) -> Result<File, FileError> {
    let mut out = zip::ZipWriter::new(tempfile::tempfile().map_err(io_error)?);
    // Images are compressed already; captions are small.
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let failed =
        |err: zip::result::ZipError| FileError(format!("the split could not be written: {err}"));
    index.rewind().map_err(io_error)?;
    for row in std::io::BufReader::new(&mut *index).lines() {
        let line = parse_line(&row.map_err(io_error)?);
        let entry = usable[&line.image];
        out.start_file(line.image.as_str(), stored)
            .map_err(failed)?;
        let mut image = archive.by_index(entry).map_err(failed)?;
        std::io::copy(&mut image, &mut out).map_err(io_error)?;
        drop(image);
        let stem = line
            .image
            .rsplit_once('.')
            .map_or(line.image.as_str(), |(stem, _)| stem);
        out.start_file(format!("{stem}.txt"), stored)
            .map_err(failed)?;
        out.write_all(line.caption.as_bytes()).map_err(io_error)?;
    }
    index.seek(std::io::SeekFrom::End(0)).map_err(io_error)?;
    let mut file = out.finish().map_err(failed)?;
    file.rewind().map_err(io_error)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use testkit::files::{png, zip_of};

    use super::*;

    fn lenient() -> Limits {
        Limits {
            min_usable_images: 1,
            ..Limits::default()
        }
    }

    fn read_all(mut file: &File) -> Vec<u8> {
        let mut out = Vec::new();
        file.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn pairs_are_checked_and_split_into_an_index_and_a_zip() {
        let images: Vec<Vec<u8>> = (0..20).map(|i| png(64 + i, 32, i as u8)).collect();
        let captions: Vec<String> = (0..20).map(|i| format!("a photo of cat {i}")).collect();
        let names: Vec<(String, String)> = (0..20)
            .map(|i| (format!("cats/{i}.png"), format!("cats/{i}.txt")))
            .collect();
        let mut entries: Vec<(&str, Vec<u8>)> = Vec::new();
        for i in 0..20 {
            entries.push((&names[i].0, images[i].clone()));
            entries.push((&names[i].1, captions[i].clone().into_bytes()));
        }
        entries.push(("lonely.png", png(5, 5, 99)));
        entries.push(("notes.txt", b"no image for this one".to_vec()));
        entries.push(("fake.png", b"this is text, not a picture".to_vec()));
        entries.push(("fake.txt", b"caption".to_vec()));
        let archive = zip_of(&entries);

        let validated = validate_images(&archive[..], 3, &lenient()).unwrap();
        let report = &validated.report;
        assert_eq!(report.usable_rows, 20, "{report:?}");
        assert_eq!(report.test_rows, 2);
        assert_eq!(report.rejected[&Reason::Unpaired].count, 2);
        assert_eq!(report.rejected[&Reason::WrongType].count, 1);
        let index = String::from_utf8(read_all(&validated.train_index)).unwrap();
        let lines: Vec<IndexLine> = index.lines().map(parse_line).collect();
        assert_eq!(lines.len(), 18);
        assert!(
            lines
                .iter()
                .any(|l| l.caption == "a photo of cat 5" || l.width == 69)
        );
        let mut train = ZipArchive::new(validated.train_zip).unwrap();
        assert_eq!(train.len(), 36);
        let mut first = String::new();
        train
            .by_name(&lines[0].image.replace(".png", ".txt"))
            .unwrap()
            .read_to_string(&mut first)
            .unwrap();
        assert_eq!(first, lines[0].caption);
        let test = ZipArchive::new(validated.test_zip).unwrap();
        assert_eq!(test.len(), 4);
        let test_names: Vec<String> = test.file_names().map(|n| n.unwrap().to_string()).collect();
        for name in test_names {
            assert!(train.by_name(&name).is_err(), "{name} is in both splits");
        }
    }

    #[test]
    fn unsafe_archives_are_refused_whole() {
        let image = png(8, 8, 0);
        for (name, expected) in [
            ("../evil.png", "outside the archive"),
            ("/etc/evil.png", "outside the archive"),
            ("a/../../evil.png", "outside the archive"),
            ("C:\\evil.png", "outside the archive"),
        ] {
            let archive = zip_of(&[(name, image.clone()), ("evil.txt", b"caption".to_vec())]);
            let err = validate_images(&archive[..], 1, &lenient()).err().unwrap();
            assert!(err.0.contains(expected), "{name}: {err}");
        }
    }

    #[test]
    fn a_symlink_refuses_the_archive() {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        out.add_symlink("cat.png", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        out.start_file("cat.txt", SimpleFileOptions::default())
            .unwrap();
        out.write_all(b"a cat").unwrap();
        let archive = out.finish().unwrap().into_inner();
        let err = validate_images(&archive[..], 1, &lenient()).err().unwrap();
        assert!(err.0.contains("symbolic link"), "{err}");
    }

    #[test]
    fn a_zip_bomb_is_refused_before_it_is_expanded() {
        let zeros = vec![0u8; 20 * 1024 * 1024];
        let archive = zip_of(&[("bomb.png", zeros), ("bomb.txt", b"boom".to_vec())]);
        assert!(archive.len() < 100 * 1024);
        let err = validate_images(&archive[..], 1, &lenient()).err().unwrap();
        assert!(err.0.contains("zip bomb"), "{err}");
    }

    #[test]
    fn magic_bytes_decide_the_format() {
        assert_eq!(ImageFormat::sniff(&png(1, 1, 0)), Some(ImageFormat::Png));
        assert_eq!(
            ImageFormat::sniff(b"\xFF\xD8\xFF\xE0rest"),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(
            ImageFormat::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageFormat::Webp)
        );
        assert_eq!(ImageFormat::sniff(b"GIF89a"), None);
    }
}

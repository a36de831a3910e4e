//! `crucible datasets check FILE`: the platform's validation and split, run on a local file.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::time::Instant;

use domain::datasets::{
    Format, Holdout, Limits, Mapping, TaskType, format, images, parquet_rows, rows, validate,
};

use crate::CliError;
use crate::config::DatasetsCommand;

pub async fn run(command: DatasetsCommand) -> Result<(), CliError> {
    let DatasetsCommand::Check {
        file,
        task_type,
        mappings,
        seed,
        train_out,
        test_out,
        min_rows,
    } = command;
    tokio::task::spawn_blocking(move || {
        check(
            file, task_type, mappings, seed, train_out, test_out, min_rows,
        )
    })
    .await
    .map_err(|err| CliError::Config(format!("the check stopped: {err}")))?
}

fn check(
    file: std::path::PathBuf,
    task_type: String,
    mappings: Vec<String>,
    seed: u64,
    train_out: Option<std::path::PathBuf>,
    test_out: Option<std::path::PathBuf>,
    min_rows: u64,
) -> Result<(), CliError> {
    let task_type = TaskType::parse(&task_type).ok_or_else(|| {
        CliError::Config(format!(
            "--task-type {task_type}: use instruct, chat, dpo or grpo"
        ))
    })?;
    let started = Instant::now();
    let size = std::fs::metadata(&file)?.len();
    let mut head = vec![0u8; 1024 * 1024];
    let read = File::open(&file)?.read(&mut head)?;
    head.truncate(read);
    let format = format::detect(&head).map_err(CliError::Config)?;
    if format == Format::Zip {
        return check_images(&file, seed, train_out, test_out, min_rows);
    }
    let mapping = if mappings.is_empty() {
        let sampled = match format {
            Format::Parquet => parquet_rows::sample_parquet(BufReader::new(File::open(&file)?), 5),
            _ => rows::sample(format, &head, 5),
        };
        let (columns, _) = sampled.map_err(|err| CliError::Config(err.0))?;
        Mapping::suggest(task_type, &columns)
    } else {
        let pairs = mappings.iter().map(|pair| {
            pair.split_once('=')
                .map(|(role, column)| (role.to_string(), column.to_string()))
                .ok_or_else(|| CliError::Config(format!("--map {pair}: write ROLE=COLUMN")))
        });
        Mapping::new(pairs.collect::<Result<Vec<_>, _>>()?)
    };
    let mut train: Box<dyn Write + Send> = match &train_out {
        Some(path) => Box::new(BufWriter::new(File::create(path)?)),
        None => Box::new(std::io::sink()),
    };
    let limits = Limits {
        min_usable_rows: min_rows,
        ..Limits::default()
    };
    let reader = BufReader::with_capacity(256 * 1024, File::open(&file)?);
    let mut write_error = None;
    let validated = validate(
        format,
        reader,
        task_type,
        &mapping,
        Holdout::Seeded(seed),
        &limits,
        &mut |row| {
            if let Err(err) = train
                .write_all(row.as_bytes())
                .and_then(|()| train.write_all(b"\n"))
            {
                write_error.get_or_insert(err);
            }
        },
    )
    .map_err(|err| CliError::Config(err.0))?;
    if let Some(err) = write_error {
        return Err(err.into());
    }
    train.flush()?;
    if let Some(path) = test_out {
        let mut test = BufWriter::new(File::create(path)?);
        for row in &validated.test_rows {
            writeln!(test, "{row}")?;
        }
        test.flush()?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::to_string_pretty(&validated.report).expect("a report serialises")
    );
    eprintln!(
        "checked {size} bytes in {seconds:.2} s ({:.1} MB/s) with mapping {}",
        size as f64 / 1e6 / seconds,
        serde_json::to_string(&mapping).expect("a mapping serialises")
    );
    Ok(())
}

/// An image archive: the report, and the two index files where asked for.
fn check_images(
    file: &std::path::Path,
    seed: u64,
    train_out: Option<std::path::PathBuf>,
    test_out: Option<std::path::PathBuf>,
    min_pairs: u64,
) -> Result<(), CliError> {
    let limits = Limits {
        min_usable_images: min_pairs,
        ..Limits::default()
    };
    let reader = BufReader::with_capacity(256 * 1024, File::open(file)?);
    let mut validated =
        images::validate_images(reader, seed, &limits).map_err(|err| CliError::Config(err.0))?;
    for (out, index) in [
        (train_out, &mut validated.train_index),
        (test_out, &mut validated.test_index),
    ] {
        if let Some(path) = out {
            std::io::copy(index, &mut File::create(path)?)?;
        }
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&validated.report).expect("a report serialises")
    );
    Ok(())
}

//! `crucible audit --export FILE`: the weights recomputed from an audit export alone.

use std::path::Path;

use domain::scoring::audit::{self, AuditExport};

use crate::CliError;

/// Prints `hotkey weight_ppm` for every miner, recomputed from the export's scores, and fails naming
/// each miner whose published weight differs.
pub fn run(file: &Path) -> Result<(), CliError> {
    let text = std::fs::read_to_string(file)
        .map_err(|err| CliError::Config(format!("cannot read {}: {err}", file.display())))?;
    let export: AuditExport = serde_json::from_str(&text).map_err(|err| {
        CliError::Config(format!(
            "{} is not an audit export (GET /api/v1/audit/export): {err}",
            file.display()
        ))
    })?;
    let recomputed = audit::recompute(&export);
    for (hotkey, weight) in &recomputed {
        println!("{hotkey} {weight}");
    }
    let differing: Vec<String> = recomputed
        .iter()
        .filter(|(hotkey, weight)| export.weights.get(*hotkey) != Some(weight))
        .map(|(hotkey, weight)| {
            format!(
                "{hotkey}: published {:?}, recomputed {weight}",
                export.weights.get(hotkey)
            )
        })
        .chain(
            export
                .weights
                .keys()
                .filter(|hotkey| !recomputed.contains_key(*hotkey))
                .map(|hotkey| format!("{hotkey}: published, but no score gives it a weight")),
        )
        .collect();
    if differing.is_empty() {
        println!(
            "the published weights match the scores ({} miners)",
            recomputed.len()
        );
        Ok(())
    } else {
        Err(CliError::Config(format!(
            "the published weights do not match the scores:\n{}",
            differing.join("\n")
        )))
    }
}

//! The output directory's quota: the one place a run may write is still bounded. Its size is summed
//! every quarter second while the program runs, and once more at its end; over the quota the run is
//! stopped (a single file is also bounded by the `fsize` limit as it is written).

use std::path::Path;
use std::time::Duration;

/// How often the output directory is measured.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// The bytes of every file under `dir`, links not followed (a link counts as itself).
pub fn used_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => used_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Resolves once the directory holds more than `quota` bytes.
pub async fn over_quota(dir: &Path, quota: u64) {
    let mut every = tokio::time::interval(WATCH_EVERY);
    loop {
        every.tick().await;
        let dir = dir.to_path_buf();
        let used = tokio::task::spawn_blocking(move || used_bytes(&dir))
            .await
            .unwrap_or(0);
        if used > quota {
            return;
        }
    }
}

//! A submitted artifact on its way to the evaluator: read from the object its submission names (its
//! bytes checked against the SHA-256 recorded at receipt), unpacked with links, special files and paths
//! outside it refused, and summed up as the digest of its files, by which duplicates are found.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::Fault;
use crate::storage::ByteStream;

/// The artifact an evaluation scored: which object, the SHA-256 of the bytes read, and the digest of
/// its files once unpacked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scored {
    pub object_key: String,
    pub sha256: String,
    pub content: Option<String>,
}

/// Writes `stream` to `to`, returning the SHA-256 of what was written.
pub async fn save(mut stream: ByteStream, to: &Path) -> std::io::Result<String> {
    let mut file = tokio::fs::File::create(to).await?;
    let mut hash = Sha256::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hash.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(hex::encode(hash.finalize()))
}

/// Unpacks the artifact (a tar) into `dir`, refusing links, special files and paths outside it: the
/// submission's fault.
pub fn unpack(tar: &Path, dir: &Path) -> Result<(), Fault> {
    let refused = Fault::Submission;
    let file = std::fs::File::open(tar)
        .map_err(|err| Fault::Platform(format!("the saved artifact: {err}")))?;
    let mut archive = tar::Archive::new(file);
    let entries = archive
        .entries()
        .map_err(|err| refused(format!("the artifact is not a tar: {err}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|err| refused(format!("the artifact is not a readable tar: {err}")))?;
        let path = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(refused(format!(
                "the artifact holds {path}, which is not a plain file or directory"
            )));
        }
        let inside = entry
            .unpack_in(dir)
            .map_err(|err| refused(format!("unpacking {path}: {err}")))?;
        if !inside {
            return Err(refused(format!(
                "the artifact holds {path}, outside its own directory"
            )));
        }
    }
    Ok(())
}

/// The directory as a tar of its files and directories; links are kept as links (never followed out
/// of the directory), so that [`unpack`] refuses them.
fn pack(dir: &Path, tar: &Path) -> std::io::Result<()> {
    let mut builder = tar::Builder::new(std::fs::File::create(tar)?);
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir)?;
    builder.into_inner()?.sync_all()
}

/// A recipe's output made into what an organic submission is before any evaluator reads it: packed
/// as it is into `into.tar`, and unpacked into `into` with links, special files and paths outside
/// refused. Returns the tar (the output as an artifact), or why it is refused.
pub fn vetted_copy(output: &Path, into: &Path) -> Result<PathBuf, String> {
    let tar = into.with_extension("tar");
    pack(output, &tar).map_err(|err| format!("its output could not be read: {err}"))?;
    std::fs::create_dir_all(into).map_err(|err| format!("a work directory: {err}"))?;
    unpack(&tar, into).map_err(|fault| {
        let _ = std::fs::remove_file(&tar);
        match fault {
            Fault::Submission(why) | Fault::Platform(why) => {
                why.replace("the artifact", "its output")
            }
        }
    })?;
    Ok(tar)
}

/// The digest of the files under `dir`: their paths relative to it and their bytes, in path order.
/// Two artifacts holding the same files have the same digest whatever their tar metadata (times,
/// owners, modes, order, directory entries).
pub fn content_digest(dir: &Path) -> std::io::Result<String> {
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort();
    let mut digest = Sha256::new();
    for (relative, path) in files {
        let mut file = std::fs::File::open(&path)?;
        let mut hash = Sha256::new();
        std::io::copy(&mut file, &mut hash)?;
        digest.update(relative.as_bytes());
        digest.update([0]);
        digest.update(hash.finalize());
    }
    Ok(hex::encode(digest.finalize()))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(root)
                .map_err(std::io::Error::other)?
                .to_string_lossy()
                .into_owned();
            out.push((relative, path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipes_output_with_a_link_or_a_pipe_is_refused_before_any_evaluator_reads_it() {
        let work = tempfile::tempdir().unwrap();
        let output = work.path().join("output");
        std::fs::create_dir_all(output.join("model")).unwrap();
        std::fs::write(output.join("model/config.json"), "{}").unwrap();
        let clean = work.path().join("clean");
        vetted_copy(&output, &clean).unwrap();
        assert_eq!(
            std::fs::read_to_string(clean.join("model/config.json")).unwrap(),
            "{}"
        );

        // A link to a host file the evaluator would otherwise read (and perhaps print).
        std::os::unix::fs::symlink("/etc/passwd", output.join("model/tokenizer.json")).unwrap();
        let why = vetted_copy(&output, &work.path().join("linked")).unwrap_err();
        assert!(
            why.contains("tokenizer.json") && why.contains("not a plain file"),
            "{why}"
        );

        // A named pipe, on which a reader would block for ever.
        std::fs::remove_file(output.join("model/tokenizer.json")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(output.join("model/weights"))
            .status();
        assert!(made.unwrap().success());
        let why = vetted_copy(&output, &work.path().join("piped")).unwrap_err();
        assert!(why.contains("weights"), "{why}");
    }

    /// A tar of `files` with the given modification time, owner and mode, after an empty directory
    /// if asked.
    fn tar_of(files: &[(&str, &[u8])], mtime: u64, with_dirs: bool) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        if with_dirs {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            header.set_mode(0o755);
            header.set_mtime(mtime);
            header.set_cksum();
            tar.append_data(&mut header, "empty", std::io::empty())
                .unwrap();
        }
        for (name, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(if with_dirs { 0o600 } else { 0o644 });
            header.set_mtime(mtime);
            header.set_uid(mtime);
            header.set_cksum();
            tar.append_data(&mut header, name, *bytes).unwrap();
        }
        tar.into_inner().unwrap()
    }

    fn digest_of(tar: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, tar).unwrap();
        let into = dir.path().join("unpacked");
        std::fs::create_dir_all(&into).unwrap();
        unpack(&path, &into).unwrap();
        content_digest(&into).unwrap()
    }

    #[test]
    fn the_same_files_have_one_digest_whatever_the_tar_says_about_them() {
        let weights: &[u8] = b"the same weights";
        let config: &[u8] = b"{}";
        let first = tar_of(
            &[("config.json", config), ("model.safetensors", weights)],
            1,
            false,
        );
        let repacked = tar_of(
            &[("model.safetensors", weights), ("config.json", config)],
            1_700_000_000,
            true,
        );
        assert_ne!(first, repacked, "the tars differ byte for byte");
        assert_eq!(digest_of(&first), digest_of(&repacked));

        let one_byte_more = tar_of(
            &[
                ("config.json", config),
                ("model.safetensors", b"the same weights!"),
            ],
            1,
            false,
        );
        assert_ne!(digest_of(&first), digest_of(&one_byte_more));
        let renamed = tar_of(&[("config.json", config), ("model.bin", weights)], 1, false);
        assert_ne!(digest_of(&first), digest_of(&renamed), "names count");
    }

    #[test]
    fn a_link_is_the_submissions_fault() {
        let dir = tempfile::tempdir().unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_cksum();
        tar.append_link(&mut header, "tokenizer.json", "/etc/passwd")
            .unwrap();
        let path = dir.path().join("link.tar");
        std::fs::write(&path, tar.into_inner().unwrap()).unwrap();
        match unpack(&path, dir.path()) {
            Err(Fault::Submission(why)) => assert!(why.contains("not a plain file"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}

//! Writing a set of files all or nothing.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file that could not be written; nothing of the set was left behind.
#[derive(Debug, thiserror::Error)]
#[error("write {}: {source}", path.display())]
pub struct WriteError {
    /// The file (a symbolic link's target once resolved), or the folder whose lock failed.
    pub path: PathBuf,
    /// The system's error; `InvalidInput` when tablewright refused the path itself.
    #[source]
    pub source: std::io::Error,
}

/// One writer at a time for a migrations folder: `generate`, `squash`, `rehash` and
/// `import` each hold this from before they read the folder until they have written it,
/// so two of them at once cannot both number a migration `0001` or interleave their files.
///
/// The lock is the operating system's (`flock`) on the folder's parent directory, which
/// exists before the folder does and stays the same directory when the folder is made,
/// found through the folder's real path (a symbolic link, `..` or another spelling of it
/// locks the same directory); the system releases it when the process ends, however it
/// ends.
#[derive(Debug)]
pub struct FolderLock {
    _held: fs::File,
}

impl FolderLock {
    /// Takes the lock for `folder`; when another process holds it, calls `waiting` once
    /// and waits for it.
    pub fn acquire(folder: &Path, waiting: impl FnOnce()) -> Result<FolderLock, WriteError> {
        let failed = |source| WriteError {
            path: folder.to_path_buf(),
            source,
        };
        let real = match folder.canonicalize() {
            Ok(real) => real,
            // Not made yet: its parent's real path, and its name.
            Err(_) => {
                let parent = match folder.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                fs::create_dir_all(parent).map_err(failed)?;
                parent
                    .canonicalize()
                    .map_err(failed)?
                    .join(folder.file_name().unwrap_or_default())
            }
        };
        let parent = real.parent().unwrap_or(&real).to_path_buf();
        let handle = fs::File::open(&parent).map_err(failed)?;
        match handle.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                waiting();
                handle.lock().map_err(failed)?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(failed(e)),
        }
        Ok(FolderLock { _held: handle })
    }
}

fn sibling(path: &Path, purpose: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.tablewright-{}.{purpose}",
        std::process::id()
    ))
}

/// A file moved into place, and how to undo it.
struct Placed {
    target: PathBuf,
    /// The previous content, moved aside; `None` when the target did not exist.
    backup: Option<PathBuf>,
}

fn undo(placed: &[Placed]) {
    for p in placed.iter().rev() {
        match &p.backup {
            Some(backup) => {
                let _ = fs::rename(backup, &p.target);
            }
            None => {
                let _ = fs::remove_file(&p.target);
            }
        }
    }
}

/// Where a file is written: a symbolic link's final target (the link stays a link), a new
/// path as it is; anything that exists and is not a regular file (a device, a FIFO, a
/// directory) is refused, since renaming over it would replace it.
fn destination(path: &Path) -> Result<PathBuf, WriteError> {
    let refuse = |why: &str| WriteError {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_owned()),
    };
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(path.to_path_buf()),
        Err(source) => Err(WriteError {
            path: path.to_path_buf(),
            source,
        }),
        Ok(meta) if meta.file_type().is_symlink() => {
            let target = fs::canonicalize(path).map_err(|source| WriteError {
                path: path.to_path_buf(),
                source,
            })?;
            match fs::metadata(&target) {
                Ok(m) if m.is_file() => Ok(target),
                _ => Err(refuse(
                    "a symbolic link to something that is not a regular file; point --out at a file",
                )),
            }
        }
        Ok(meta) if meta.is_file() => Ok(path.to_path_buf()),
        Ok(_) => Err(refuse(
            "exists and is not a regular file (a device, a FIFO or a directory): tablewright writes only files",
        )),
    }
}

/// Writes every file to a temporary sibling first, flushed to disk; then moves them into
/// place in the given order (put the file that commits the change, such as the journal,
/// last). If anything fails, files already moved are put back as they were and the
/// temporaries are removed, so the targets end as they began. A target that is a symbolic
/// link is written through it; one that is not a regular file is refused.
pub fn write_all_or_nothing(files: &[(PathBuf, Vec<u8>)]) -> Result<(), WriteError> {
    let files: Vec<(PathBuf, &Vec<u8>)> = files
        .iter()
        .map(|(path, bytes)| destination(path).map(|d| (d, bytes)))
        .collect::<Result<_, _>>()?;
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let remove_staged = |staged: &[(PathBuf, PathBuf)]| {
        for (tmp, _) in staged {
            let _ = fs::remove_file(tmp);
        }
    };
    for (path, bytes) in &files {
        let tmp = sibling(path, "tmp");
        let result = (|| {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent)?;
            }
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        })();
        if let Err(source) = result {
            let _ = fs::remove_file(&tmp);
            remove_staged(&staged);
            return Err(WriteError {
                path: path.clone(),
                source,
            });
        }
        staged.push((tmp, path.clone()));
    }

    let mut placed: Vec<Placed> = Vec::new();
    for (i, (tmp, target)) in staged.iter().enumerate() {
        let result = (|| {
            let backup = if target.is_file() {
                let backup = sibling(target, "bak");
                fs::rename(target, &backup)?;
                Some(backup)
            } else {
                None
            };
            if let Err(e) = fs::rename(tmp, target) {
                if let Some(b) = &backup {
                    let _ = fs::rename(b, target);
                }
                return Err(e);
            }
            Ok(backup)
        })();
        match result {
            Ok(backup) => placed.push(Placed {
                target: target.clone(),
                backup,
            }),
            Err(source) => {
                undo(&placed);
                remove_staged(&staged[i..]);
                return Err(WriteError {
                    path: target.clone(),
                    source,
                });
            }
        }
    }
    for p in &placed {
        if let Some(b) = &p.backup {
            let _ = fs::remove_file(b);
        }
    }
    Ok(())
}

impl crate::error::Classified for WriteError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Input
    }

    fn kind(&self) -> &'static str {
        "io"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    /// A symbolic link is written through (it stays a link; its target gets the bytes), and
    /// a device or a FIFO is refused rather than replaced by a file.
    #[test]
    fn links_are_written_through_and_devices_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.sql");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("link.sql");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_all_or_nothing(&[(link.clone(), b"new".to_vec())]).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        for refused in [
            fifo.clone(),
            PathBuf::from("/dev/full"),
            dir.path().to_path_buf(),
        ] {
            let e = write_all_or_nothing(&[(refused.clone(), b"x".to_vec())]).unwrap_err();
            assert!(
                e.to_string().contains("not a regular file"),
                "{}: {e}",
                refused.display()
            );
        }
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo()
        );
        assert!(
            std::fs::metadata("/dev/full")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    /// The same folder reached another way (a symbolic link, `x/..`) is the same lock; a
    /// second writer says it waits, and goes on once the first is done.
    #[test]
    fn a_folder_reached_another_way_is_the_same_lock() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("migrations")).unwrap();
        std::os::unix::fs::symlink(project.join("migrations"), dir.path().join("linked")).unwrap();
        for other in [
            dir.path().join("linked"),
            project.join("migrations/../migrations"),
            project.join("not_made_yet/..").join("migrations"),
        ] {
            let held = FolderLock::acquire(&project.join("migrations"), || {
                panic!("nobody holds it yet")
            })
            .unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            let second = std::thread::spawn(move || {
                FolderLock::acquire(&other, move || tx.send(()).unwrap()).map(drop)
            });
            rx.recv_timeout(std::time::Duration::from_secs(10))
                .expect("the second writer waits");
            drop(held);
            second.join().unwrap().unwrap();
        }
    }

    fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let content = if p.is_file() {
                fs::read(&p).unwrap()
            } else {
                b"<dir>".to_vec()
            };
            out.push((name, content));
        }
        out.sort();
        out
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("journal"), b"old").unwrap();
        fs::write(
            dir.path().join("blocker"),
            b"a file where a folder is needed",
        )
        .unwrap();
        let before = listing(dir.path());
        let files = vec![
            (dir.path().join("new.sql"), b"sql".to_vec()),
            (dir.path().join("blocker/snapshot.json"), b"{}".to_vec()),
            (dir.path().join("journal"), b"new".to_vec()),
        ];
        assert!(write_all_or_nothing(&files).is_err());
        assert_eq!(listing(dir.path()), before);
    }

    #[test]
    fn a_failed_move_puts_earlier_files_back() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("journal"), b"old").unwrap();
        // A non-empty folder where the last file goes: staging works, the move fails.
        fs::create_dir(dir.path().join("last")).unwrap();
        fs::write(dir.path().join("last/keep"), b"x").unwrap();
        let before = listing(dir.path());
        let files = vec![
            (dir.path().join("new.sql"), b"sql".to_vec()),
            (dir.path().join("journal"), b"new".to_vec()),
            (dir.path().join("last"), b"oops".to_vec()),
        ];
        assert!(write_all_or_nothing(&files).is_err());
        assert_eq!(listing(dir.path()), before);
    }

    #[test]
    fn a_successful_write_replaces_and_creates() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("journal"), b"old").unwrap();
        let files = vec![
            (dir.path().join("meta/new.json"), b"{}".to_vec()),
            (dir.path().join("journal"), b"new".to_vec()),
        ];
        write_all_or_nothing(&files).unwrap();
        assert_eq!(fs::read(dir.path().join("journal")).unwrap(), b"new");
        assert_eq!(fs::read(dir.path().join("meta/new.json")).unwrap(), b"{}");
        assert_eq!(
            listing(dir.path()).len(),
            2,
            "no temporaries or backups left"
        );
    }
}

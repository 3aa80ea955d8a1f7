//! Files reloaded without a restart: the one helper behind the token file,
//! the EKS mapping file and the server's TLS files.
//!
//! Polling a file's metadata is cheap and works everywhere, including
//! Kubernetes Secret and ConfigMap volumes, which replace files by swapping a
//! `..data` symlink (inotify watches on the file itself miss that).
//!
//! A [`Reloading`] value is loaded from one or more files; when any of them
//! changes (modification time, length or inode), it is loaded again. A
//! broken new version is reported once and the previous value stays in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};

/// What identifies one version of a file: a change means "reload".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    /// The stamp of `path` now (following symlinks), or `None` if it cannot
    /// be read.
    pub fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: meta.ino(),
        })
    }
}

type Loader<T, E> = Box<dyn Fn() -> Result<T, E> + Send + Sync>;

/// A value loaded from files and loaded again when they change.
pub struct Reloading<T, E> {
    paths: Vec<PathBuf>,
    load: Loader<T, E>,
    state: RwLock<(Arc<T>, Vec<Option<FileStamp>>)>,
}

impl<T, E> Reloading<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// Loads the value with `load`, remembering the versions of `paths` (the
    /// files `load` reads). Fails when the first load fails.
    pub fn load(
        paths: Vec<PathBuf>,
        load: impl Fn() -> Result<T, E> + Send + Sync + 'static,
    ) -> Result<Arc<Self>, E> {
        let stamps = stamps(&paths);
        let value = load()?;
        Ok(Arc::new(Reloading {
            paths,
            load: Box::new(load),
            state: RwLock::new((Arc::new(value), stamps)),
        }))
    }

    /// The files watched.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The value in use now.
    pub fn current(&self) -> Arc<T> {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// Loads the value again if a file changed since the last load.
    /// `Ok(Some(new))` after a reload, `Ok(None)` when nothing changed, and
    /// the error (the previous value kept) when the new version is broken;
    /// a broken version is reported once, not on every check.
    pub fn reload_if_changed(&self) -> Result<Option<Arc<T>>, E> {
        let stamps = stamps(&self.paths);
        if self.state.read().unwrap_or_else(|p| p.into_inner()).1 == stamps {
            return Ok(None);
        }
        let result = (self.load)();
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.1 = stamps;
        let value = Arc::new(result?);
        state.0 = value.clone();
        Ok(Some(value))
    }

    /// Checks for changes every `interval` while the value is alive
    /// elsewhere, passing each reload or failure to `report` (which logs).
    /// Abort the returned task to stop earlier.
    pub fn spawn_reloader(
        self: &Arc<Self>,
        interval: Duration,
        report: fn(&Self, Result<&T, &E>),
    ) -> tokio::task::JoinHandle<()> {
        spawn_periodic(self, interval, move |reloading| {
            match reloading.reload_if_changed() {
                Ok(Some(value)) => report(reloading, Ok(&value)),
                Ok(None) => {}
                Err(e) => report(reloading, Err(&e)),
            }
        })
    }
}

fn stamps(paths: &[PathBuf]) -> Vec<Option<FileStamp>> {
    paths.iter().map(|p| FileStamp::of(p)).collect()
}

/// Calls `tick` on `target` every `interval`, for as long as `target` is
/// alive elsewhere. Abort the returned task to stop earlier.
pub fn spawn_periodic<T>(
    target: &Arc<T>,
    interval: Duration,
    tick: impl Fn(&T) + Send + 'static,
) -> tokio::task::JoinHandle<()>
where
    T: Send + Sync + 'static,
{
    let weak: Weak<T> = Arc::downgrade(target);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate
        loop {
            ticker.tick().await;
            let Some(target) = weak.upgrade() else { return };
            tick(&target);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads_on_change_and_keeps_the_old_value_when_broken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("value");
        std::fs::write(&path, "1").unwrap();
        let read = {
            let path = path.clone();
            move || -> Result<u32, String> {
                let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
                text.trim()
                    .parse()
                    .map_err(|_| format!("{text:?} is no number"))
            }
        };
        let value = Reloading::load(vec![path.clone()], read).unwrap();
        assert_eq!(*value.current(), 1);
        assert_eq!(value.reload_if_changed(), Ok(None));

        std::fs::write(&path, "22").unwrap();
        assert_eq!(value.reload_if_changed().unwrap().as_deref(), Some(&22));
        assert_eq!(*value.current(), 22);

        std::fs::write(&path, "broken").unwrap();
        assert!(value.reload_if_changed().unwrap_err().contains("no number"));
        assert_eq!(*value.current(), 22, "the previous value stays");
        assert_eq!(value.reload_if_changed(), Ok(None), "reported once");
    }
}

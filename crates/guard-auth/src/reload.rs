//! Noticing that files changed on disk, for reload without restart.
//!
//! Polling a file's metadata is cheap and works everywhere, including
//! Kubernetes Secret and ConfigMap volumes, which replace files by swapping a
//! `..data` symlink (inotify watches on the file itself miss that).

use std::path::Path;
use std::sync::{Arc, Weak};
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

/// Calls `tick` on `target` every `interval`, for as long as `target` is
/// alive elsewhere. Abort the returned task to stop earlier.
pub fn spawn_periodic<T>(
    target: &Arc<T>,
    interval: Duration,
    tick: fn(&T),
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

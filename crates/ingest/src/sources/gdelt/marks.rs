//! High-water marks of the GDELT source: per query, the latest `seendate` already emitted and
//! the article URLs emitted at exactly that instant. The next poll asks GDELT for articles from
//! that instant on (`startdatetime` is inclusive) and drops the URLs already emitted there, so
//! polls neither miss nor repeat an article. [`HighWaterMarks`] is the storage seam: an
//! in-memory store here, a PostgreSQL one where marks must survive restarts.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Mutex,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Why a mark store could not read or write; boxed so any backend's error fits.
pub type MarkStoreError = Box<dyn std::error::Error + Send + Sync>;

/// Where one query's polling stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HighWaterMark {
    /// The latest `seendate` among the articles emitted so far.
    pub seen_at: DateTime<Utc>,
    /// The URLs emitted with exactly that `seendate`. GDELT's `startdatetime` is inclusive, so
    /// these come back on the next poll and are dropped; later articles are kept.
    pub urls: BTreeSet<String>,
}

/// Durable per-query marks. Keys are opaque strings ([`super::GdeltQueryConfig::mark_key`]).
#[async_trait]
pub trait HighWaterMarks: Send + Sync {
    /// The mark stored for `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<HighWaterMark>, MarkStoreError>;

    /// Replaces the mark of `key`.
    async fn set(&self, key: &str, mark: HighWaterMark) -> Result<(), MarkStoreError>;
}

/// Marks kept in memory: enough for one process, lost on restart (the first poll after a
/// restart then looks back `initial_lookback_hours`, and natural keys absorb the repeats).
#[derive(Debug, Default)]
pub struct InMemoryHighWaterMarks {
    // A std Mutex: it is held only to copy a value in or out, never across an await.
    marks: Mutex<HashMap<String, HighWaterMark>>,
}

impl InMemoryHighWaterMarks {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl HighWaterMarks for InMemoryHighWaterMarks {
    async fn get(&self, key: &str) -> Result<Option<HighWaterMark>, MarkStoreError> {
        let marks = self.marks.lock().map_err(|_| "the mark store's lock is poisoned")?;
        Ok(marks.get(key).cloned())
    }

    async fn set(&self, key: &str, mark: HighWaterMark) -> Result<(), MarkStoreError> {
        let mut marks = self.marks.lock().map_err(|_| "the mark store's lock is poisoned")?;
        marks.insert(key.to_string(), mark);
        Ok(())
    }
}

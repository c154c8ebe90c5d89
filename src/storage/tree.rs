//! A sled tree that knows its name, with the typed operations every store
//! module goes through: read one record, list them, change one (the one
//! read-modify-write, [`Tree::update`]) and purge.
//!
//! The rule they keep: **a record that does not decode is an error, never
//! a deletion.** A read of one record fails; a change fails and leaves the
//! record byte for byte as it was; a listing or a purge passes over it,
//! logged, and never removes it. The raw sled operations stay reachable
//! (`Deref`) for what reads no record: inserts, removals by key, counts.

use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::codec::{self, StoreError};

/// A sled tree and its name (for errors and logs).
#[derive(Clone)]
pub(crate) struct Tree {
    inner: sled::Tree,
    pub(crate) name: &'static str,
}

impl Deref for Tree {
    type Target = sled::Tree;

    fn deref(&self) -> &sled::Tree {
        &self.inner
    }
}

/// What [`Tree::update`]'s closure decides, with its answer `R`.
pub(crate) enum Change<T, R> {
    /// Store this record.
    Put(T, R),
    /// Remove the record.
    Remove(R),
    /// Write nothing.
    Keep(R),
}

impl Tree {
    pub(crate) fn new(inner: sled::Tree, name: &'static str) -> Tree {
        Tree { inner, name }
    }

    /// Decodes this tree's record `key` (an error if it does not decode).
    pub(crate) fn decode<'a, T: Deserialize<'a>>(
        &self,
        key: &[u8],
        raw: &'a [u8],
    ) -> Result<T, StoreError> {
        codec::decode(self.name, key, raw)
    }

    /// Encodes a record for this tree's `key`.
    pub(crate) fn encode<T: Serialize>(
        &self,
        key: &[u8],
        value: &T,
    ) -> Result<Vec<u8>, StoreError> {
        codec::encode(self.name, key, value)
    }

    /// The record `key`: `None` when there is none, an error when it does
    /// not decode.
    pub(crate) fn read<T: DeserializeOwned>(
        &self,
        key: impl AsRef<[u8]>,
    ) -> Result<Option<T>, StoreError> {
        let key = key.as_ref();
        match self.inner.get(key)? {
            Some(raw) => self.decode(key, &raw).map(Some),
            None => Ok(None),
        }
    }

    /// Stores `value` under `key` (new or replacing).
    pub(crate) fn put<T: Serialize>(
        &self,
        key: impl AsRef<[u8]>,
        value: &T,
    ) -> Result<(), StoreError> {
        let key = key.as_ref();
        self.inner.insert(key, self.encode(key, value)?)?;
        Ok(())
    }

    /// Every record, in key order; one that does not decode fails the
    /// whole listing (for records nothing may be missing from).
    pub(crate) fn list<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        let mut all = Vec::new();
        for item in self.inner.iter() {
            let (key, raw) = item?;
            all.push(self.decode(&key, &raw)?);
        }
        Ok(all)
    }

    /// Every record that decodes, in key order; one that does not is
    /// logged (tree and key) and left out, and left as it is (for what is
    /// shown to the owner: one bad record must not hide the others).
    pub(crate) fn list_skipping_unreadable<T: DeserializeOwned>(
        &self,
    ) -> Result<Vec<T>, StoreError> {
        let mut all = Vec::new();
        for item in self.inner.iter() {
            let (key, raw) = item?;
            if let Ok(record) = self.decode(&key, &raw) {
                all.push(record);
            }
        }
        Ok(all)
    }

    /// The one read-modify-write: reads the record `key`, lets `change`
    /// decide, and writes that only if the record is still as read
    /// (compare-and-swap; `change` runs again after a concurrent write, so
    /// it must only decide). A record that does not decode, or a new one
    /// that does not encode, stops it with the error: nothing is written
    /// and the record stays as it was.
    pub(crate) fn update<T, R>(
        &self,
        key: impl AsRef<[u8]>,
        mut change: impl FnMut(Option<T>) -> Change<T, R>,
    ) -> Result<R, StoreError>
    where
        T: DeserializeOwned + Serialize,
    {
        let key = key.as_ref();
        loop {
            let current = self.inner.get(key)?;
            let old = match &current {
                Some(raw) => Some(self.decode::<T>(key, raw)?),
                None => None,
            };
            let (new, answer) = match change(old) {
                Change::Keep(answer) => return Ok(answer),
                Change::Put(record, answer) => (Some(self.encode(key, &record)?), answer),
                Change::Remove(answer) => (None, answer),
            };
            if self.inner.compare_and_swap(key, current, new)?.is_ok() {
                return Ok(answer);
            }
        }
    }

    /// Removes every record `doomed` condemns, if it is still as read;
    /// returns how many went. A record that does not decode is passed over
    /// (logged with its tree and key), never removed. An error from
    /// `doomed` stops the purge (what it could not read decides nothing).
    pub(crate) fn purge<T: DeserializeOwned>(
        &self,
        mut doomed: impl FnMut(&T) -> Result<bool, StoreError>,
    ) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.inner.iter() {
            let (key, raw) = item?;
            let Ok(record) = self.decode::<T>(&key, &raw) else {
                continue;
            };
            if doomed(&record)?
                && self
                    .inner
                    .compare_and_swap(&key, Some(&raw), None::<&[u8]>)?
                    .is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

//! The host's custody journal: the ids of runtime keys this host made and
//! has not yet seen stored or revoked.
//!
//! A key is written here between its creation and its store; the entry goes
//! once the key is stored or revoked. The journal lives in the state folder
//! and is only touched under the host's run lock, so an entry of another
//! run found there belongs to a run that is gone (killed between creating a
//! key and settling it, or a store whose answer was lost). Such a key is
//! provably nobody's: only that dead process ever held its secret. The next
//! run of this host revokes it unless the slot holds it.

use serde::{Deserialize, Serialize};

use crate::os::dir::WorkDir;

const FILE: &str = "custody.pending";

/// A key this host made and has not settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub id: String,
    pub prefix: String,
    pub run: String,
}

/// Where the journal is kept (the state folder; nowhere in unit tests).
pub trait Journal {
    /// Entries of runs other than `run` (gone: the run lock is ours).
    fn unsettled(&self, run: &str) -> Vec<Pending>;
    /// Records a key just made; an error is only a note (the key is stored
    /// or revoked by this run all the same).
    fn made(&self, key: Pending) -> Result<(), String>;
    /// Forgets keys that are stored or revoked.
    fn settled(&self, ids: &[&str]);
}

/// No journal (verbs that make no key; unit tests that need none).
pub struct NoJournal;

impl Journal for NoJournal {
    fn unsettled(&self, _: &str) -> Vec<Pending> {
        Vec::new()
    }
    fn made(&self, _: Pending) -> Result<(), String> {
        Ok(())
    }
    fn settled(&self, _: &[&str]) {}
}

/// The journal in the state folder (read and replaced relative to its
/// descriptor, owned like the folder).
pub struct HostJournal<'a>(pub &'a WorkDir);

impl HostJournal<'_> {
    fn all(&self) -> Vec<Pending> {
        match self.0.read_file(FILE, 64 << 10) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn write(&self, entries: &[Pending]) -> Result<(), String> {
        if entries.is_empty() {
            return match self.0.remove(FILE) {
                Ok(()) => Ok(()),
                Err(_) if matches!(self.0.read_file(FILE, 1), Ok(None)) => Ok(()),
                Err(e) => Err(e),
            };
        }
        let bytes = serde_json::to_vec(entries).map_err(|e| e.to_string())?;
        self.0.replace_file(FILE, &bytes, 0o600)
    }
}

impl Journal for HostJournal<'_> {
    fn unsettled(&self, run: &str) -> Vec<Pending> {
        self.all().into_iter().filter(|p| p.run != run).collect()
    }

    fn made(&self, key: Pending) -> Result<(), String> {
        let mut all = self.all();
        all.push(key);
        self.write(&all)
    }

    fn settled(&self, ids: &[&str]) {
        let all = self.all();
        if !all.iter().any(|p| ids.contains(&p.id.as_str())) {
            return;
        }
        let left: Vec<_> = all
            .into_iter()
            .filter(|p| !ids.contains(&p.id.as_str()))
            .collect();
        let _ = self.write(&left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_other_runs_are_unsettled_until_settled() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = WorkDir::open(tmp.path(), None).unwrap();
        let j = HostJournal(&dir);
        assert!(j.unsettled("a").is_empty());
        let entry = |id: &str, run: &str| Pending {
            id: id.into(),
            prefix: format!("ihk_{id}"),
            run: run.into(),
        };
        j.made(entry("k1", "a")).unwrap();
        j.made(entry("k2", "b")).unwrap();
        assert_eq!(j.unsettled("a"), vec![entry("k2", "b")]);
        assert_eq!(j.unsettled("c").len(), 2);
        j.settled(&["k2"]);
        assert_eq!(j.unsettled("c"), vec![entry("k1", "a")]);
        j.settled(&["k1"]);
        assert!(j.unsettled("c").is_empty());
        assert!(
            !tmp.path().join(FILE).exists(),
            "an empty journal leaves no file"
        );
    }
}

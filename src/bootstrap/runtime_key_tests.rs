//! Every path of the critical section, with fakes that fail on demand.

use std::cell::RefCell;

use std::time::Duration;

use super::*;
use crate::interhub::{KeyInfo, Lifecycle, NewKey};

#[derive(Default)]
struct FakeHub {
    keys: RefCell<Vec<(String, String, String, bool)>>, // id, prefix, secret, active
    /// Age in seconds of keys by id (absent: just made).
    ages: RefCell<Vec<(String, i64)>>,
    fail_revoke: bool,
}

impl FakeHub {
    fn add_aged(&self, n: u32, age_secs: i64) -> NewKey {
        let k = self.add(n);
        self.ages.borrow_mut().push((k.id.clone(), age_secs));
        k
    }
    fn add(&self, n: u32) -> NewKey {
        let secret = format!("ihk_{n:08x}.{}", "a".repeat(43));
        let id = format!("key_{n}");
        self.keys
            .borrow_mut()
            .push((id.clone(), key_prefix(&secret), secret.clone(), true));
        NewKey {
            id,
            prefix: key_prefix(&secret),
            key: Secret::new(secret),
        }
    }
    fn live(&self) -> Vec<String> {
        self.keys
            .borrow()
            .iter()
            .filter(|k| k.3)
            .map(|k| k.1.clone())
            .collect()
    }
}

impl KeyApi for FakeHub {
    fn create_key(&self, _: &str) -> Result<NewKey, Error> {
        let n = self.keys.borrow().len() as u32 + 1;
        Ok(self.add(n))
    }
    fn revoke_key(&self, _: &str, id: &str) -> Result<(), Error> {
        if self.fail_revoke {
            return Err(Error::InterhubServer("down".into()));
        }
        for k in self.keys.borrow_mut().iter_mut() {
            if k.0 == id {
                k.3 = false;
            }
        }
        Ok(())
    }
    fn list_keys(&self, _: &str) -> Result<Vec<KeyInfo>, Error> {
        Ok(self
            .keys
            .borrow()
            .iter()
            .map(|k| KeyInfo {
                created_at: Some({
                    let age = self
                        .ages
                        .borrow()
                        .iter()
                        .find(|a| a.0 == k.0)
                        .map_or(0, |a| a.1);
                    (chrono::Utc::now() - chrono::Duration::seconds(age)).to_rfc3339()
                }),
                id: k.0.clone(),
                prefix: k.1.clone(),
                status: if k.3 {
                    Lifecycle::Active
                } else {
                    Lifecycle::Revoked
                },
            })
            .collect())
    }
    fn token(&self, _: &str, key: &Secret) -> Result<Secret, Error> {
        if self
            .keys
            .borrow()
            .iter()
            .any(|k| k.3 && k.2 == key.expose())
        {
            Ok(Secret::new("at_token".into()))
        } else {
            Err(Error::RuntimeKeyDead("invalid_client".into()))
        }
    }
}

/// The fake store's copy of what it holds (a real store hands out a fresh
/// value on every read).
fn copy(k: &StoredKey) -> StoredKey {
    StoredKey {
        key: Secret::new(k.key.expose().to_owned()),
        client_id: k.client_id.clone(),
        prefix: k.prefix.clone(),
        key_id: k.key_id.clone(),
        version: k.version,
    }
}

#[derive(Default)]
struct FakeStore {
    stored: RefCell<Option<StoredKey>>,
    fail: Option<Error>,
    /// Another host stores this key just before our write.
    racer: RefCell<Option<Secret>>,
    /// Another host stores this key while our slot version is being read.
    racer_at_slot: RefCell<Option<Secret>>,
    /// The write's answer is lost; `true`: it landed all the same.
    unconfirmed: RefCell<Option<bool>>,
}

impl RuntimeStore for FakeStore {
    fn read_runtime_key(&self) -> Result<Option<StoredKey>, Error> {
        Ok(self.stored.borrow().as_ref().map(copy))
    }
    fn slot_version(&self) -> Result<u64, Error> {
        let current = self.stored.borrow().as_ref().map_or(0, |s| s.version);
        if let Some(r) = self.racer_at_slot.borrow_mut().take() {
            *self.stored.borrow_mut() = Some(StoredKey {
                key: r,
                client_id: None,
                prefix: None,
                key_id: None,
                version: current + 1,
            });
            return Ok(current + 1);
        }
        Ok(current)
    }
    fn store_runtime_key(
        &self,
        key: &KeyRecord,
        cas: u64,
        _: &Provenance,
    ) -> Result<Stored, Error> {
        if let Some(e) = &self.fail {
            return Err(e.clone());
        }
        if let Some(landed) = self.unconfirmed.borrow_mut().take() {
            if landed {
                let current = self.stored.borrow().as_ref().map_or(0, |s| s.version);
                *self.stored.borrow_mut() = Some(StoredKey {
                    key: Secret::new(key.key.expose().to_owned()),
                    client_id: None,
                    prefix: key.prefix.clone(),
                    key_id: key.key_id.clone(),
                    version: current + 1,
                });
            }
            return Ok(Stored::Unconfirmed {
                why: Error::OpenbaoTimeout("write".into()),
            });
        }
        if let Some(r) = self.racer.borrow_mut().take() {
            *self.stored.borrow_mut() = Some(StoredKey {
                key: r,
                client_id: None,
                prefix: None,
                key_id: None,
                version: 1,
            });
        }
        let current = self.stored.borrow().as_ref().map_or(0, |s| s.version);
        if current != cas {
            return Ok(Stored::LostRace {
                winner: self.stored.borrow().as_ref().map(copy).unwrap(),
            });
        }
        *self.stored.borrow_mut() = Some(StoredKey {
            key: Secret::new(key.key.expose().to_owned()),
            client_id: key.client_id.clone(),
            prefix: key.prefix.clone(),
            key_id: key.key_id.clone(),
            version: current + 1,
        });
        Ok(Stored::Written {
            version: current + 1,
        })
    }
}

fn who() -> Provenance {
    Provenance {
        run_id: "r".into(),
        host: "h".into(),
        cert_key_id: "k".into(),
    }
}

/// The host's journal, in memory.
#[derive(Default)]
struct FakeJournal(RefCell<Vec<Pending>>);

impl Journal for FakeJournal {
    fn unsettled(&self, run: &str) -> Vec<Pending> {
        self.0
            .borrow()
            .iter()
            .filter(|p| p.run != run)
            .cloned()
            .collect()
    }
    fn made(&self, key: Pending) -> Result<(), String> {
        self.0.borrow_mut().push(key);
        Ok(())
    }
    fn settled(&self, ids: &[&str]) {
        self.0
            .borrow_mut()
            .retain(|p| !ids.contains(&p.id.as_str()));
    }
}

fn run(
    store: &FakeStore,
    hub: &FakeHub,
    rotate: bool,
    plan: bool,
) -> (Result<Option<Secret>, Error>, KeyReport) {
    run_in(store, hub, &FakeJournal::default(), "r", rotate, plan)
}

/// A run with this journal and run id (each run of a host has its own id).
fn run_in(
    store: &FakeStore,
    hub: &FakeHub,
    journal: &FakeJournal,
    run_id: &str,
    rotate: bool,
    plan: bool,
) -> (Result<Option<Secret>, Error>, KeyReport) {
    let mut report = KeyReport::default();
    let w = who();
    let custody = Custody {
        store,
        api: hub,
        journal,
        run: run_id,
        orphan_age: Duration::from_secs(3600),
    };
    let r = ensure(
        &custody,
        KeyRequest {
            consumer_id: "c",
            supplied: None,
            rotate,
            plan,
            who: &w,
        },
        &mut report,
    );
    (r, report)
}

#[test]
fn first_run_creates_and_stores_then_reuses() {
    let (store, hub) = (FakeStore::default(), FakeHub::default());
    let (r, rep) = run(&store, &hub, false, false);
    assert!(r.unwrap().is_some());
    assert_eq!(rep.status, Some(KeyStatus::Created));
    assert_eq!(
        hub.live(),
        vec![store
            .stored
            .borrow()
            .as_ref()
            .unwrap()
            .prefix
            .clone()
            .unwrap()]
    );
    let (r, rep) = run(&store, &hub, false, false);
    assert!(r.is_ok());
    assert_eq!(rep.status, Some(KeyStatus::Reused));
    assert_eq!(hub.keys.borrow().len(), 1, "no second key");
}

#[test]
fn failed_store_revokes_the_new_key() {
    let store = FakeStore {
        fail: Some(Error::OpenbaoServer {
            status: Some(500),
            detail: "HTTP 500".into(),
        }),
        ..Default::default()
    };
    let hub = FakeHub::default();
    let (r, rep) = run(&store, &hub, false, false);
    assert_eq!(r.unwrap_err().code(), "runtime-key-not-stored");
    assert_eq!(rep.status, Some(KeyStatus::Revoked));
    assert!(hub.live().is_empty(), "no live unrecorded key");
}

#[test]
fn failed_store_and_failed_revoke_is_loud() {
    let store = FakeStore {
        fail: Some(Error::OpenbaoWriteDenied("p".into())),
        ..Default::default()
    };
    let hub = FakeHub {
        fail_revoke: true,
        ..Default::default()
    };
    let (r, _) = run(&store, &hub, false, false);
    let e = r.unwrap_err();
    assert_eq!(e.code(), "runtime-key-orphaned");
    assert!(
        e.to_string().contains("key_1"),
        "names the key id to revoke by hand"
    );
    assert!(!e.to_string().contains(&"a".repeat(43)), "never the key");
}

#[test]
fn lost_race_revokes_ours_and_reuses_the_winner() {
    let hub = FakeHub::default();
    let winner = hub.add(99);
    let store = FakeStore {
        racer: RefCell::new(Some(winner.key)),
        ..Default::default()
    };
    let (r, rep) = run(&store, &hub, false, false);
    assert!(r.is_ok());
    assert!(rep.race_lost);
    assert_eq!(rep.status, Some(KeyStatus::Reused));
    assert_eq!(hub.live(), vec![winner.prefix]);
}

/// Issue 18 §2: a stored key Inter-Hub calls invalid_client is replaced
/// without --rotate, and the run says so.
#[test]
fn a_dead_stored_key_is_replaced_without_rotate() {
    let hub = FakeHub::default();
    let old = hub.add(1);
    hub.revoke_key("c", &old.id).unwrap();
    let store = FakeStore::default();
    *store.stored.borrow_mut() = Some(StoredKey {
        key: old.key,
        client_id: None,
        prefix: None,
        key_id: None,
        version: 3,
    });
    let (r, rep) = run(&store, &hub, false, true);
    assert!(r.unwrap().is_none(), "plan changes nothing");
    assert_eq!(rep.status, Some(KeyStatus::WouldReplace));
    assert_eq!(hub.keys.borrow().len(), 1);
    let (r, rep) = run(&store, &hub, false, false);
    assert!(r.unwrap().is_some());
    assert_eq!(rep.status, Some(KeyStatus::Replaced));
    assert_eq!(rep.previous_prefix, Some(old.prefix));
    assert_eq!(rep.replaced_because.as_deref(), Some("invalid_client"));
    assert_eq!(
        store.stored.borrow().as_ref().unwrap().version,
        4,
        "stored with cas on the current version"
    );
    assert_eq!(hub.live().len(), 1);
    // Any other failure to prove it is no proof of death: the run fails.
    let (store2, hub2) = (FakeStore::default(), FakeHub::default());
    let k = hub2.add(5);
    *store2.stored.borrow_mut() = Some(StoredKey {
        key: k.key,
        client_id: None,
        prefix: None,
        key_id: None,
        version: 1,
    });
    struct Flaky<'a>(&'a FakeHub);
    impl KeyApi for Flaky<'_> {
        fn create_key(&self, c: &str) -> Result<NewKey, Error> {
            self.0.create_key(c)
        }
        fn revoke_key(&self, c: &str, id: &str) -> Result<(), Error> {
            self.0.revoke_key(c, id)
        }
        fn list_keys(&self, c: &str) -> Result<Vec<KeyInfo>, Error> {
            self.0.list_keys(c)
        }
        fn token(&self, _: &str, _: &Secret) -> Result<Secret, Error> {
            Err(Error::RuntimeKeyInvalid("invalid_scope".into()))
        }
    }
    let custody = Custody {
        store: &store2,
        api: &Flaky(&hub2),
        journal: &NoJournal,
        run: "r",
        orphan_age: Duration::from_secs(3600),
    };
    let w = who();
    let req = KeyRequest {
        consumer_id: "c",
        supplied: None,
        rotate: false,
        plan: false,
        who: &w,
    };
    let e = ensure(&custody, req, &mut KeyReport::default()).unwrap_err();
    assert_eq!(e.code(), "runtime-key-invalid");
    assert_eq!(hub2.keys.borrow().len(), 1, "no key made");
}

/// --rotate replaces a working key and revokes the one its store displaced.
#[test]
fn rotation_revokes_the_displaced_key_only() {
    let (store, hub) = (FakeStore::default(), FakeHub::default());
    run(&store, &hub, false, false).0.unwrap();
    let first = hub.live();
    // Another host's key, made a moment ago and not yet stored.
    let theirs = hub.add(50);
    let (r, rep) = run(&store, &hub, true, false);
    assert!(r.unwrap().is_some());
    assert_eq!(rep.status, Some(KeyStatus::Rotated));
    assert_eq!(rep.previous_prefix.as_ref(), first.first());
    assert_eq!(rep.revoked, first, "the displaced key, nothing else");
    assert_eq!(rep.left, vec![theirs.prefix.clone()]);
    assert!(
        hub.live().contains(&theirs.prefix),
        "never another host's key"
    );
}

/// Issue 18 §1: a sweep revokes only what is provably dead to everyone.
#[test]
fn only_orphans_and_dead_runs_keys_are_swept_and_plan_changes_nothing() {
    let (store, hub) = (FakeStore::default(), FakeHub::default());
    let (r, rep) = run(&store, &hub, false, true);
    assert!(r.unwrap().is_none());
    assert_eq!(rep.status, Some(KeyStatus::WouldCreate));
    assert!(hub.keys.borrow().is_empty());
    run(&store, &hub, false, false).0.unwrap();
    let young = hub.add(7);
    let old = hub.add_aged(8, 7200);
    let (_, rep) = run(&store, &hub, false, true);
    assert_eq!(rep.unrecorded, vec![old.prefix.clone()]);
    assert_eq!(rep.left, vec![young.prefix.clone()]);
    assert_eq!(hub.live().len(), 3, "plan revokes nothing");
    let (_, rep) = run(&store, &hub, false, false);
    assert_eq!(rep.revoked, vec![old.prefix]);
    assert_eq!(rep.left, vec![young.prefix.clone()], "maybe another host's");
    assert_eq!(hub.live().len(), 2);
    // The same young key, journaled by a dead run of this host: revoked.
    let journal = FakeJournal::default();
    journal
        .made(Pending {
            id: young.id.clone(),
            prefix: young.prefix.clone(),
            run: "killed".into(),
        })
        .unwrap();
    let (_, rep) = run_in(&store, &hub, &journal, "next", false, false);
    assert_eq!(rep.revoked, vec![young.prefix]);
    assert_eq!(hub.live().len(), 1);
    assert!(journal.0.borrow().is_empty(), "settled");
}

/// A store whose answer was lost is never revoked on a guess: the key stays
/// journaled, and the next run keeps it if the slot holds it, else revokes it.
#[test]
fn an_unconfirmed_store_is_settled_by_the_next_run() {
    for landed in [false, true] {
        let (store, hub, journal) = (
            FakeStore::default(),
            FakeHub::default(),
            FakeJournal::default(),
        );
        *store.unconfirmed.borrow_mut() = Some(landed);
        let (r, rep) = run_in(&store, &hub, &journal, "first", false, false);
        assert_eq!(r.unwrap_err().code(), "runtime-key-unconfirmed");
        assert_eq!(rep.status, Some(KeyStatus::Unconfirmed));
        assert!(rep.revoked.is_empty(), "nothing revoked on a guess");
        assert_eq!(hub.live().len(), 1);
        assert_eq!(journal.0.borrow().len(), 1, "journaled");
        let (r, rep) = run_in(&store, &hub, &journal, "second", false, false);
        assert!(r.unwrap().is_some(), "landed={landed}: {rep:?}");
        assert_eq!(hub.live().len(), 1, "landed={landed}");
        let stored = store.stored.borrow();
        assert_eq!(
            hub.live(),
            vec![key_prefix(stored.as_ref().unwrap().key.expose())]
        );
        if landed {
            assert_eq!(rep.status, Some(KeyStatus::Reused));
        } else {
            assert_eq!(rep.status, Some(KeyStatus::Created));
            assert_eq!(rep.revoked.len(), 1, "the dead run's key");
        }
        assert!(journal.0.borrow().is_empty(), "settled");
    }
}

/// A key another host stores between our first read (nothing) and the slot
/// version we would store over is reused, never written over.
#[test]
fn a_key_stored_while_the_slot_is_read_is_reused_not_overwritten() {
    let hub = FakeHub::default();
    let theirs = hub.add(7);
    let store = FakeStore {
        racer_at_slot: RefCell::new(Some(Secret::new(theirs.key.expose().to_owned()))),
        ..Default::default()
    };
    let (r, rep) = run(&store, &hub, false, false);
    assert!(r.unwrap().is_some());
    assert_eq!(rep.status, Some(KeyStatus::Reused), "{rep:?}");
    assert_eq!(hub.keys.borrow().len(), 1, "no key of ours was made");
    let stored = store.stored.borrow();
    assert_eq!(stored.as_ref().unwrap().key.expose(), theirs.key.expose());
    assert_eq!(stored.as_ref().unwrap().version, 1);
}

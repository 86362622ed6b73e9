//! Check-and-set stores with the shipped policy, the login token's revocation, concurrent stores.

use super::{caller, runtime_key, store, Lab, OPERATOR_KEY, RUNTIME_PATH};
use ops_warden::testing::Stored;

#[test]
fn custody_with_the_shipped_policy() {
    let lab = Lab::new("custody");
    let who_called = caller(&lab.fx);
    let mut bao = lab
        .connect()
        .expect("AppRole login with the shipped policy");
    assert_eq!(
        lab.bao.live_tokens_named("approle"),
        1,
        "one login token while connected"
    );
    bao.preflight(&bao.lane_needs(true, true))
        .expect("the shipped policy passes the pre-flight");

    let op = bao.read_operator_key(&who_called).unwrap();
    assert_eq!(op.secret().expose(), OPERATOR_KEY);
    assert!(bao.read_runtime_key().unwrap().is_none());
    assert_eq!(bao.runtime_version().unwrap(), 0);

    // First store: create-only, read back.
    let first = store(&bao, 1, 0);
    assert!(matches!(first, Stored::Written { version: 1 }), "{first:?}");
    let stored = bao.read_runtime_key().unwrap().unwrap();
    assert_eq!(stored.key.expose(), runtime_key(1));
    assert_eq!(stored.client_id.as_deref(), Some("cons_1"));
    assert_eq!(stored.key_id.as_deref(), Some("key_1"));
    let meta = lab
        .bao
        .ok(&["kv", "metadata", "get", "-format=json", RUNTIME_PATH]);
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(
        meta["data"]["custom_metadata"]["ops_warden_run_id"],
        "run-test"
    );
    assert_eq!(
        meta["data"]["custom_metadata"]["ops_warden_cert_key_id"],
        "agt-test-interhub-bootstrap"
    );

    // A second first-store loses and learns the winner's key.
    match store(&bao, 2, 0) {
        Stored::LostRace { winner } => assert_eq!(winner.key.expose(), runtime_key(1)),
        other => panic!("expected a lost race, got {other:?}"),
    }
    // A stale rotation loses too; a current one wins.
    assert!(matches!(store(&bao, 3, 5), Stored::LostRace { .. }));
    assert!(matches!(store(&bao, 3, 1), Stored::Written { version: 2 }));

    // The login token is revoked at the end.
    assert!(bao.close().unwrap(), "a token this session made is revoked");
    assert_eq!(
        lab.bao.live_tokens_named("approle"),
        0,
        "token revoked by close()"
    );
    let dropped = lab.connect().unwrap();
    drop(dropped);
    assert_eq!(
        lab.bao.live_tokens_named("approle"),
        0,
        "token revoked on drop too"
    );
}

#[test]
fn concurrent_first_stores_end_with_one_key() {
    let lab = Lab::new("race");
    let results: Vec<Stored> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=4u8)
            .map(|n| {
                let lab = &lab;
                s.spawn(move || store(&lab.connect().unwrap(), n, 0))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners = results
        .iter()
        .filter(|r| matches!(r, Stored::Written { .. }))
        .count();
    assert_eq!(winners, 1, "{results:?}");
    let bao = lab.connect().unwrap();
    let stored = bao.read_runtime_key().unwrap().unwrap();
    for r in &results {
        if let Stored::LostRace { winner } = r {
            assert!(
                winner.key.same_as(&stored.key),
                "losers reuse the stored key"
            );
        }
    }
}

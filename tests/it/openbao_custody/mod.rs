//! OpenBao custody against a real OpenBao dev server: AppRole login with the
//! shipped policy, operator key read, CAS stores, the pre-flight, failures.
//! Shared here: a lab with OpenBao only, a verified caller, test stores.

mod correlate;
mod failures;
mod lane_host;
mod stores;

use std::time::Duration;

use crate::common::bao::Bao;
use crate::common::Fixture;
use ops_warden::testing::KeyIdPattern;
use ops_warden::testing::OpenBao;
use ops_warden::testing::Secret;
use ops_warden::testing::{verify, CertPolicy, PinnedCa, VerifiedCaller};
use ops_warden::testing::{KeyRecord, Provenance, Stored};
use ops_warden::testing::{KvField, OpenbaoAuth, OpenbaoConfig};

pub(super) const OPERATOR_KEY: &str = "opk-live-Zq8xW3vN7mR2tY5uI9oP1aS4dF6gH0jK";
pub(super) const OPERATOR_PATH: &str = "secret/platform/operators/interhub/operator";
pub(super) const RUNTIME_PATH: &str = "secret/platform/operators/ops-hub/runtime";

pub(super) fn runtime_key(n: u8) -> String {
    format!(
        "ihk_{:08x}.{}",
        0x1a2b3c00u32 + n as u32,
        format!("R{n}tkQ9vLm2Xw8Zp4Ns7Jd1Hf6Gb3Kc5Vy0TeQaPoW")
            .chars()
            .take(43)
            .collect::<String>()
    )
}

pub(super) struct Lab {
    pub(super) fx: Fixture,
    pub(super) bao: Bao,
}

impl Lab {
    pub(super) fn new(name: &str) -> Lab {
        let fx = Fixture::new(name);
        let bao = Bao::start(&fx);
        bao.setup_lane(&fx.path("approle"));
        bao.kv_put_stdin(OPERATOR_PATH, "IHUB_OPERATOR_KEY", OPERATOR_KEY);
        Lab { fx, bao }
    }

    pub(super) fn config(&self) -> OpenbaoConfig {
        OpenbaoConfig {
            addrs: vec![self.bao.addr.clone()],
            failover: Duration::from_secs(1),
            ca_bundle: None,
            timeout: Duration::from_secs(5),
            retries: 1,
            retry_backoff: Duration::from_millis(1),
            lane_uid: None,
            auth: OpenbaoAuth::AppRole {
                mount: "approle".into(),
                role_id_file: self.fx.path("approle/role_id"),
                secret_id_file: self.fx.path("approle/secret_id"),
            },
            operator_key: KvField {
                mount: "secret".into(),
                path: "platform/operators/interhub/operator".into(),
                field: "IHUB_OPERATOR_KEY".into(),
            },
            runtime_key: KvField {
                mount: "secret".into(),
                path: "platform/operators/ops-hub/runtime".into(),
                field: "OPS_HUB_KEY".into(),
            },
        }
    }

    pub(super) fn connect(&self) -> Result<OpenBao, ops_warden::testing::Error> {
        OpenBao::connect(&self.config())
    }

    pub(super) fn secrets(&self) -> Vec<String> {
        let mut v = vec![
            OPERATOR_KEY.to_string(),
            runtime_key(1),
            runtime_key(2),
            runtime_key(3),
        ];
        v.push(
            std::fs::read_to_string(self.fx.path("approle/secret_id"))
                .unwrap()
                .trim()
                .to_string(),
        );
        v
    }
}

/// A caller verified from a real ssh-keygen certificate (the only way to get one).
pub(super) fn caller(fx: &Fixture) -> VerifiedCaller {
    fx.keygen(&["-t", "ed25519", "-f", "caller-ca"]);
    fx.keygen(&["-t", "ed25519", "-f", "caller"]);
    let cert = fx.sign(
        "caller-ca",
        "caller",
        &crate::common::cert_opts(
            crate::common::KEY_ID,
            Some(crate::common::PRINCIPAL),
            "-1m:+5m",
            &[],
        ),
    );
    let cert = ssh_key::Certificate::from_openssh(&std::fs::read_to_string(cert).unwrap()).unwrap();
    let policy = CertPolicy {
        principal: "agt-interhub-bootstrap".into(),
        require_sole_principal: true,
        key_id_pattern: KeyIdPattern::parse("agt-*-interhub-bootstrap*").unwrap(),
        pinned: vec![PinnedCa::from_openssh(
            &std::fs::read_to_string(fx.path("caller-ca.pub")).unwrap(),
        )
        .unwrap()],
        max_ttl_secs: 900,
        clock_skew_secs: 60,
        allowed_critical_options: vec![],
        require_source_address: false,
        allowed_extensions: vec![],
        single_use_verbs: vec!["bootstrap".into()],
    };
    verify(&policy, &cert, None, chrono::Utc::now().timestamp() as u64).unwrap()
}

/// Stores runtime key `n` with check-and-set at `cas`.
pub(super) fn store(bao: &OpenBao, n: u8, cas: u64) -> Stored {
    try_store(bao, n, cas).unwrap()
}

pub(super) fn try_store(
    bao: &OpenBao,
    n: u8,
    cas: u64,
) -> Result<Stored, ops_warden::testing::Error> {
    let key = Secret::new(runtime_key(n));
    let record = KeyRecord {
        key: &key,
        client_id: Some("cons_1".into()),
        prefix: Some(runtime_key(n)[..12].to_string()),
        key_id: Some(format!("key_{n}")),
    };
    bao.store_runtime_key(&record, cas, &who())
}

pub(super) fn who() -> Provenance {
    Provenance {
        run_id: "run-test".into(),
        host: "test-host".into(),
        cert_key_id: "agt-test-interhub-bootstrap".into(),
    }
}

pub(super) fn code<T>(r: Result<T, ops_warden::testing::Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().to_string(),
    }
}

use super::*;

const CA: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOnq8qu5ZoT6Gk0ck5a8oHTf5H3kVsZb0a5qS7n2b6uQ lane-ca";

#[test]
fn every_problem_is_reported_with_its_key() {
    let text = format!(
        r#"
[lane]
principal = ""
key_id_pattern = "*"
ca_keys = ["{CA}", "not a key"]
max_ttl_secs = 0
[audit]
path = "relative/audit.jsonl"
[openbao]
addr = "http://10.0.0.1:8200"
auth = "approle"
[runner]
kind = "command"
"#
    );
    let p = from_str(&text).unwrap_err();
    let keys: Vec<&str> = p.0.iter().map(|p| p.key.as_str()).collect();
    for k in [
        "lane.principal",
        "lane.key_id_pattern",
        "lane.ca_keys[1]",
        "lane.max_ttl_secs",
        "audit.path",
        "openbao.addr",
        "openbao.role_id_file",
        "openbao.secret_id_file",
        "runner.argv",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
}

#[test]
fn unknown_keys_are_refused() {
    let text = format!(
        "[lane]\nprincipal='p'\nkey_id_pattern='a*'\nca_keys=['{CA}']\nmax_ttl_secs=600\nsurprise=1\n[audit]\npath='/a'\n"
    );
    let p = from_str(&text).unwrap_err();
    assert!(p.0[0].message.contains("surprise"), "{:?}", p.0);
}

#[test]
fn example_config_parses() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/host-config/ops-warden.toml.example"
    ))
    .unwrap();
    // The example names files that exist only on a host; only parse-level checks matter here.
    let p = from_str(&text);
    if let Err(p) = p {
        // The CA file and the lane user exist only on a host.
        let host_only = ["lane.ca_keys_file", "lane.user"];
        assert!(
            p.0.iter().all(|p| host_only.contains(&p.key.as_str())),
            "{:?}",
            p.0
        );
    }
}

fn minimal(extra: &str) -> String {
    format!(
        "[lane]\nprincipal='p'\nkey_id_pattern='a*'\nca_keys=['{CA}']\nmax_ttl_secs=600\n\
         [audit]\npath='/a'\n{extra}"
    )
}

fn problems(extra: &str) -> Vec<Problem> {
    from_str(&minimal(extra))
        .err()
        .map(|p| p.0)
        .unwrap_or_default()
}

const IH: &str = "[interhub]\nmanifest='/m'\nwidgets='/w'\n";

#[test]
fn safe_defaults() {
    let cfg = from_str(&minimal("")).unwrap();
    assert!(cfg.lane.require_sole_principal, "safe when omitted");
    assert!(
        cfg.lane.allowed_extensions.is_empty(),
        "no extension allowed"
    );
    // Inter-Hub over non-loopback https needs a pinned CA, or an explicit word.
    let p = problems(&format!("{IH}base_url='https://hub.example'\n"));
    assert!(p.iter().any(|p| p.key == "interhub.ca_bundle"), "{p:?}");
    assert!(problems(&format!(
        "{IH}base_url='https://hub.example'\nca_bundle='/etc/ca.pem'\n"
    ))
    .is_empty());
    assert!(problems(&format!(
        "{IH}base_url='https://hub.example'\nuse_system_roots=true\n"
    ))
    .is_empty());
    assert!(problems(&format!("{IH}base_url='http://127.0.0.1:8080'\n")).is_empty());
    let p = problems(&format!(
        "{IH}base_url='https://hub.example'\nuse_system_roots=true\nca_bundle='/c'\n"
    ));
    assert!(
        p.iter().any(|p| p.key == "interhub.use_system_roots"),
        "{p:?}"
    );
}

#[test]
fn an_openbao_override_passes_the_configs_rules() {
    let base = "[openbao]\naddr='https://bao.example:8200'\nauth='token-file'\ntoken_file='/t'\n";
    let load = || from_str(&minimal(base)).unwrap();
    let over = |addr: &str, ca: Option<&str>| {
        let mut c = load();
        override_openbao(
            &mut c,
            Some((addr, "--openbao-addr")),
            ca.map(|c| (c, "--openbao-ca-bundle")),
        )
        .map(|_| c.openbao.unwrap())
    };
    let e = over("http://10.0.0.5:8200", None).unwrap_err().to_string();
    assert!(
        e.contains("--openbao-addr: plain http is only allowed to a loopback"),
        "{e}"
    );
    let e = over("https://other.example:8200", None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("pin its CA"), "{e}");
    let o = over("https://other.example:8200", Some("/etc/ca.pem")).unwrap();
    assert_eq!(o.addrs, ["https://other.example:8200"]);
    assert_eq!(o.ca_bundle.as_deref(), Some(Path::new("/etc/ca.pem")));
    assert!(
        over("https://bao.example:8200/", None).is_ok(),
        "the same address"
    );
    assert!(over("http://127.0.0.1:8200", None).is_ok(), "loopback http");
    let e = over("https://other.example:8200", Some("rel.pem"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--openbao-ca-bundle: must be an absolute path"),
        "{e}"
    );
}

#[test]
fn openbao_takes_one_address_or_a_cluster() {
    let bao = |addr: &str, extra: &str| {
        format!("[openbao]\naddr={addr}\nauth='token-file'\ntoken_file='/t'\n{extra}")
    };
    let cfg = from_str(&minimal(&bao(
        "['https://b1.example:8200', 'https://b2.example:8200/', 'http://127.0.0.1:8200']",
        "failover_secs=30",
    )))
    .unwrap();
    let o = cfg.openbao.unwrap();
    assert_eq!(
        o.addrs,
        [
            "https://b1.example:8200",
            "https://b2.example:8200",
            "http://127.0.0.1:8200"
        ]
    );
    assert_eq!(o.addr(), "https://b1.example:8200");
    assert_eq!(o.failover, std::time::Duration::from_secs(30));
    let one = from_str(&minimal(&bao("'https://b.example'", ""))).unwrap();
    assert_eq!(one.openbao.unwrap().failover.as_secs(), 20, "the default");

    let said = |addr: &str, extra: &str| -> Vec<String> {
        problems(&bao(addr, extra))
            .into_iter()
            .map(|p| format!("{}: {}", p.key, p.message))
            .collect()
    };
    assert!(said("[]", "").iter().any(|m| m.contains("1 to 16")));
    assert!(said("['https://a.example', 'https://a.example/']", "")
        .iter()
        .any(|m| m.contains("listed twice")));
    assert!(said("['https://a.example', 'http://10.0.0.2:8200']", "")
        .iter()
        .any(|m| m.starts_with("openbao.addr: plain http")));
    assert!(said("'https://a.example'", "failover_secs=0")
        .iter()
        .any(|m| m.starts_with("openbao.failover_secs")));
}

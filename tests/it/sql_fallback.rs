//! The SQL fallback on a real PostgreSQL: the committed script equals a fresh
//! render from the JSON seeds, applies twice, and holds what the seeds say.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, repo, Fixture};
use serde_json::Value;

fn pg_bin(name: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries (tests/setup.sh installs them)")
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("{name} not found under /usr/lib/postgresql"))
}

/// A throwaway PostgreSQL listening only on a Unix socket in the fixture,
/// run as the unprivileged lane user (postgres refuses to run as root).
struct Postgres {
    child: Child,
    socket: PathBuf,
}

impl Postgres {
    fn start(fx: &Fixture) -> Postgres {
        crate::common::require_root();
        crate::common::sshd::ensure_lane_user();
        let data = fx.mkdir("pgdata", 0o700);
        let socket = fx.mkdir("pgsock", 0o755);
        for d in [&data, &socket] {
            fx.chown(d, crate::common::sshd::LANE_USER);
        }
        let user = nix::unistd::User::from_name(crate::common::sshd::LANE_USER)
            .unwrap()
            .unwrap();
        let as_user = |prog: &Path| {
            use std::os::unix::process::CommandExt;
            let mut c = Command::new(prog);
            c.uid(user.uid.as_raw())
                .gid(user.gid.as_raw())
                .env("HOME", fx.path("pgdata"))
                .current_dir(fx.path("pgdata"));
            c
        };
        let out = as_user(&pg_bin("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let child = as_user(&pg_bin("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-c", "listen_addresses=", "-c", "fsync=off", "-k"])
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(fx.path("pg.log")).unwrap())
            .spawn()
            .unwrap();
        let pg = Postgres { child, socket };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !pg.psql_raw(&["-c", "select 1"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "postgres did not start: {}",
                std::fs::read_to_string(fx.path("pg.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        pg
    }

    fn psql_raw(&self, args: &[&str]) -> std::process::Output {
        Command::new(pg_bin("psql"))
            .arg("-h")
            .arg(&self.socket)
            .args([
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
            ])
            .args(args)
            .output()
            .unwrap()
    }

    fn file(&self, f: &Path) {
        let out = self.psql_raw(&["-f", f.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "psql -f {}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn json(&self, sql: &str) -> Value {
        let out = self.psql_raw(&["-c", sql]);
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        serde_json::from_str(text.trim()).expect("psql prints one JSON value")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = self.child.wait();
    }
}

#[test]
fn committed_sql_is_a_fresh_render() {
    let out = Command::new(bin())
        .current_dir(repo())
        .args(["seeds", "render-sql"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read(repo().join("seeds/ops-hub-bootstrap.sql")).unwrap();
    assert!(
        out.stdout == committed,
        "seeds/ops-hub-bootstrap.sql is stale: run `ops-warden seeds render-sql > seeds/ops-hub-bootstrap.sql`"
    );
}

#[test]
fn sql_fallback_applies_twice_and_matches_the_seeds() {
    let fx = Fixture::new("sql");
    let pg = Postgres::start(&fx);
    pg.file(&repo().join("seeds/interhub-schema.assumed.sql"));
    let script = repo().join("seeds/ops-hub-bootstrap.sql");
    pg.file(&script);
    let snapshot = |pg: &Postgres| {
        pg.json(
            "select json_build_object(
               'hubs', (select json_agg(json_build_object('slug', slug, 'name', name)) from hubs),
               'manifests', (select json_agg(json_build_object('digest', digest, 'status', status, 'document', document)) from hub_manifests),
               'widget_types', (select json_agg(key order by key) from widget_types where owner_hub = 'ops-hub'),
               'event_types', (select json_agg(key order by key) from event_types where owner_hub = 'ops-hub'),
               'annotation_categories', (select json_agg(key order by key) from annotation_categories where owner_hub = 'ops-hub'),
               'consumers', (select json_agg(json_build_object('name', name, 'hub', hub_slug, 'scopes', scopes)) from api_consumers),
               'keys', (select count(*) from api_keys),
               'widgets', (select json_agg(json_build_object('key', key, 'type', type, 'title', title, 'config', config) order by key) from hub_widgets))",
        )
    };
    let first = snapshot(&pg);
    pg.file(&script);
    let second = snapshot(&pg);
    assert_eq!(first, second, "applying twice changes nothing");

    let seeds = Command::new(bin())
        .current_dir(repo())
        .args(["seeds", "check"])
        .output()
        .unwrap();
    let check: Value = serde_json::from_slice(&seeds.stdout).unwrap();
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("seeds/ops-hub-manifest.draft.json")).unwrap(),
    )
    .unwrap();
    let widgets: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("seeds/ops-hub-widgets.seed.json")).unwrap(),
    )
    .unwrap();

    assert_eq!(second["hubs"].as_array().unwrap().len(), 1);
    assert_eq!(second["hubs"][0]["slug"], "ops-hub");
    let mans = second["manifests"].as_array().unwrap();
    assert_eq!(mans.len(), 1);
    assert_eq!(mans[0]["status"], "active");
    assert_eq!(mans[0]["digest"], check["digest"]);
    assert_eq!(
        mans[0]["document"], manifest,
        "the stored document is the draft"
    );
    let sorted = |v: &Value| {
        let mut k: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        k.sort();
        k
    };
    assert_eq!(
        sorted(&second["widget_types"]),
        sorted(&check["widget_types"])
    );
    assert_eq!(
        sorted(&second["event_types"]),
        sorted(&check["event_types"])
    );
    assert_eq!(
        sorted(&second["annotation_categories"]),
        sorted(&check["annotation_categories"])
    );
    assert_eq!(second["consumers"][0]["scopes"], manifest["scopes"]);
    assert_eq!(second["keys"], 0, "the fallback creates no API key");
    let mut want: Vec<Value> = widgets["widgets"].as_array().unwrap().clone();
    want.sort_by_key(|w| w["key"].as_str().unwrap().to_string());
    assert_eq!(second["widgets"], Value::Array(want));
}

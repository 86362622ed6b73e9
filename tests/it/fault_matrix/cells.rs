//! The matrix's axes: each request of a first bootstrap, and each fault.

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    InterHub,
    OpenBao,
}

/// A request of a first `bootstrap`, named by its method and path prefix
/// (the first request matching is the one faulted).
pub struct Target {
    pub name: &'static str,
    pub service: Service,
    pub method: &'static str,
    pub path: &'static str,
}

const fn ih(name: &'static str, method: &'static str, path: &'static str) -> Target {
    Target {
        name,
        service: Service::InterHub,
        method,
        path,
    }
}

const fn ob(name: &'static str, method: &'static str, path: &'static str) -> Target {
    Target {
        name,
        service: Service::OpenBao,
        method,
        path,
    }
}

const RUNTIME: &str = "/v1/secret/data/platform/operators/ops-hub/runtime";

pub const TARGETS: &[Target] = &[
    ob("openbao health", "GET", "/v1/sys/health"),
    ob("openbao login", "POST", "/v1/auth/approle/login"),
    ob("openbao pre-flight", "POST", "/v1/sys/capabilities-self"),
    ob(
        "openbao read operator key",
        "GET",
        "/v1/secret/data/platform/operators/interhub/operator",
    ),
    ob("openbao read runtime key", "GET", RUNTIME),
    ob(
        "openbao slot version",
        "GET",
        "/v1/secret/metadata/platform/operators/ops-hub/runtime",
    ),
    ob("openbao CAS store", "POST", RUNTIME),
    ob(
        "openbao read-back",
        "GET",
        "/v1/secret/data/platform/operators/ops-hub/runtime?version=",
    ),
    ob(
        "openbao custom metadata",
        "POST",
        "/v1/secret/metadata/platform/operators/ops-hub/runtime",
    ),
    ob("openbao revoke-self", "POST", "/v1/auth/token/revoke-self"),
    ih("interhub health", "GET", "/api/v2/health"),
    ih("interhub registries", "GET", "/api/v2/widget-types"),
    ih("interhub hub-registry", "GET", "/api/v2/hub-registry"),
    ih("interhub event-types", "GET", "/api/v2/event-types"),
    ih(
        "interhub annotation-categories",
        "GET",
        "/api/v2/annotation-categories",
    ),
    ih("interhub get hub", "GET", "/api/v2/admin/hubs/ops-hub"),
    ih("interhub create hub", "POST", "/api/v2/admin/hubs"),
    ih(
        "interhub list manifests",
        "GET",
        "/api/v2/admin/hubs/ops-hub/manifests",
    ),
    ih(
        "interhub post manifest",
        "POST",
        "/api/v2/admin/hubs/ops-hub/manifests",
    ),
    ih(
        "interhub activate manifest",
        "POST",
        "/api/v2/admin/hubs/ops-hub/manifests/",
    ),
    ih(
        "interhub list consumers",
        "GET",
        "/api/v2/admin/api-consumers?",
    ),
    ih(
        "interhub create consumer",
        "POST",
        "/api/v2/admin/api-consumers",
    ),
    ih(
        "interhub create key",
        "POST",
        "/api/v2/admin/api-consumers/",
    ),
    ih("interhub token", "POST", "/api/v2/token"),
    ih("interhub list keys", "GET", "/api/v2/admin/api-consumers/"),
    ih(
        "interhub list widgets",
        "GET",
        "/api/v2/hubs/ops-hub/widgets",
    ),
    ih(
        "interhub put widget",
        "PUT",
        "/api/v2/hubs/ops-hub/widgets/",
    ),
    ih("interhub event", "POST", "/api/v2/hubs/ops-hub/events"),
];

pub const FAULTS: &[&str] = &[
    "5xx",
    "429",
    "timeout",
    "reset",
    "malformed",
    "oversized",
    "401",
    "403",
    "SIGKILL",
    "SIGTERM",
    "SIGHUP",
];

/// The fault as the simulator or the proxy takes it. Answer faults hit every
/// attempt (retries included); a hold catches the first matching request.
pub fn fault(t: &Target, fault: &str) -> Value {
    let mut f = json!({"method": t.method, "path": t.path, "count": 50});
    let set = |f: &mut Value, k: &str, v: Value| f[k] = v;
    match fault {
        "5xx" => set(&mut f, "status", json!(500)),
        "429" => {
            set(&mut f, "status", json!(429));
            set(&mut f, "retry_after", json!(0));
        }
        // Held past the client's timeout, then dropped: the server never
        // sees it (a late arrival would be another scenario).
        "timeout" => {
            set(&mut f, "hold", json!(true));
            set(&mut f, "drop", json!(true));
        }
        "reset" => set(&mut f, "reset", json!(true)),
        "malformed" => set(&mut f, "malformed", json!(true)),
        "oversized" => set(&mut f, "oversized", json!(true)),
        "401" => set(&mut f, "status", json!(401)),
        "403" => set(&mut f, "status", json!(403)),
        "SIGKILL" | "SIGTERM" | "SIGHUP" => {
            set(&mut f, "hold", json!(true));
            set(&mut f, "count", json!(1));
        }
        other => panic!("unknown fault {other}"),
    }
    f
}

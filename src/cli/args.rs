//! The command line: host-side verbs and their flags (clap derive). Every
//! flag says what it does (a test checks); man pages and completions are
//! generated from this (examples/gen_assets.rs).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "ops-warden",
    version,
    about = "sshd ForceCommand for the ops-hub Inter-Hub bootstrap lane"
)]
pub struct Cli {
    /// Config file.
    #[arg(long, global = true, default_value = crate::config::DEFAULT_PATH)]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The sshd entry point (ForceCommand). Reads SSH_ORIGINAL_COMMAND and SSH_USER_AUTH.
    ForceCommand,
    /// Host-side review of the audit log.
    Audit {
        #[command(subcommand)]
        action: AuditCmd,
    },
    /// Validate the config and the files it names; prints JSON
    /// (schema/check-config.v1.schema.json). Exit 0 ok, 78 a problem in the
    /// config, its files or sshd's settings, 69 a service check failed.
    CheckConfig {
        /// Also check OpenBao (reachable, unsealed, AppRole login, capability
        /// pre-flight) and Inter-Hub (health, TLS pin); changes nothing.
        #[arg(long)]
        online: bool,
        /// Also check sshd's effective settings for the lane user.
        #[arg(long)]
        sshd: bool,
        /// sshd's config file for --sshd (default: sshd's own).
        #[arg(long, value_name = "FILE", requires = "sshd")]
        sshd_config: Option<PathBuf>,
        /// Also print the effective config.
        #[arg(long)]
        show: bool,
    },
    /// Attended bootstrap by an operator on the host (the runbook's path).
    Bootstrap {
        /// OpenBao address for this run instead of openbao.addr (same rules:
        /// https unless loopback; another https address needs a pinned CA).
        /// BAO_ADDR does the same; VAULT_ADDR is ignored.
        #[arg(long, value_name = "URL")]
        openbao_addr: Option<String>,
        /// CA bundle (PEM) pinned for --openbao-addr; BAO_CACERT does the same.
        #[arg(long, value_name = "FILE")]
        openbao_ca_bundle: Option<String>,
        /// The Inter-Hub operator key: a 0600 file owned by you; removed after the run.
        #[arg(long)]
        operator_key_file: PathBuf,
        /// Leave the operator key file in place.
        #[arg(long)]
        keep_operator_key_file: bool,
        /// An existing runtime key (OPS_HUB_KEY_FILE) to prove and reuse.
        #[arg(long)]
        runtime_key_file: Option<PathBuf>,
        /// Do not send the readiness event.
        #[arg(long)]
        skip_event: bool,
        /// Read everything and change nothing: name what a run would create.
        #[arg(long, conflicts_with = "rotate")]
        plan: bool,
        /// Replace the stored runtime key that no longer works.
        #[arg(long)]
        rotate: bool,
    },
    /// The seed files: check them, or render the SQL fallback from them.
    Seeds {
        #[command(subcommand)]
        action: SeedsCmd,
    },
}

#[derive(Subcommand, Debug)]
pub enum SeedsCmd {
    /// Validate the manifest draft and widget seed; prints JSON.
    Check(SeedFiles),
    /// Print the SQL fallback rendered from the seeds.
    RenderSql(SeedFiles),
}

#[derive(clap::Args, Debug)]
pub struct SeedFiles {
    /// The hub manifest draft (JSON).
    #[arg(long, default_value = "seeds/ops-hub-manifest.draft.json")]
    pub manifest: PathBuf,
    /// The seed widgets (JSON).
    #[arg(long, default_value = "seeds/ops-hub-widgets.seed.json")]
    pub widgets: PathBuf,
    /// The hub's slug.
    #[arg(long, default_value = "ops-hub")]
    pub hub: String,
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Verify the hash chain; with several --file, oldest first, across
    /// rotations (plain or .gz). Exit 0 ok, 65 broken, 66 no records yet.
    Verify {
        /// A log file to verify (repeat, oldest first); default: the live log.
        #[arg(long = "file")]
        files: Vec<PathBuf>,
        /// A syslog file holding the anchor lines with their senders
        /// (`journalctl -o json`, or rsyslog with the shipped template):
        /// every record it has must be in the log, unchanged.
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
        /// The host whose log this is, as ops-warden records it (default:
        /// this host): every chain-start must name it, and only its anchor
        /// lines are compared.
        #[arg(long)]
        host: Option<String>,
        /// With --anchor: a record without an anchor line, in the period
        /// the anchor covers, fails the verification.
        #[arg(long, requires = "anchor")]
        require_anchored: bool,
        /// The log is new: a missing head file is expected.
        #[arg(long)]
        allow_new: bool,
        /// The first file's predecessors are knowingly left out.
        #[arg(long)]
        allow_partial: bool,
        /// JSON even on a terminal (it is the default otherwise).
        #[arg(long)]
        json: bool,
    },
    /// Join the trail's OpenBao calls with an OpenBao file audit device's
    /// log: custody actions missing on either side. Exit 0 ok, 65 missing.
    Correlate {
        /// OpenBao's file audit log (JSON lines; declare the device with
        /// `hmac_accessor = "false"` to match calls without a request_id).
        #[arg(long = "openbao-audit", value_name = "FILE")]
        openbao_audit: PathBuf,
        /// A trail file (repeat, oldest first); default: the live log.
        #[arg(long = "file")]
        files: Vec<PathBuf>,
        /// JSON even on a terminal (it is the default otherwise).
        #[arg(long)]
        json: bool,
    },
    /// Show records, filtered.
    Show {
        /// RFC 3339 time or an age such as 90m, 12h, 2d, 1w.
        #[arg(long)]
        since: Option<String>,
        /// Only records of this certificate key id.
        #[arg(long = "key-id")]
        key_id: Option<String>,
        /// ok, refused, failed, usage, busy or aborted.
        #[arg(long)]
        outcome: Option<String>,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        /// A log file (plain or .gz) instead of the live log.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

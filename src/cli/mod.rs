//! The command line. `run` turns arguments into an exit code; nothing else
//! exits the process.

mod args;

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use serde_json::json;

use crate::audit::{self, AuditLog, ShowFilter};
use crate::config;
use crate::error::{exit, Error};
use crate::evidence::RunMode;
pub use args::{AuditCmd, Cli, Command, SeedFiles, SeedsCmd};

/// Parses the arguments and runs; returns the process exit code. A panic
/// (a bug) still ends in one evidence document and exit 70; its message is
/// not printed (only where it happened), since stderr reaches the SSH client.
pub fn run() -> u8 {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = writeln!(std::io::stderr(), "ops-warden: internal error{at}");
    }));
    match std::panic::catch_unwind(dispatch) {
        Ok(code) => code,
        Err(_) => {
            let run =
                crate::evidence::RunInfo::start(MODE.get().copied().unwrap_or(RunMode::Unknown));
            let ev = crate::evidence::Evidence {
                error: Some(Error::Internal(
                    "a bug stopped the run; see the audit log".into(),
                )),
                ..Default::default()
            };
            emit(&ev.to_json(&run));
            exit::SOFTWARE
        }
    }
}

/// The mode this process serves, for the evidence of a panic.
static MODE: std::sync::OnceLock<RunMode> = std::sync::OnceLock::new();

fn mode_of(c: &Command) -> RunMode {
    match c {
        Command::ForceCommand => RunMode::ForceCommand,
        Command::Bootstrap { .. } => RunMode::Attended,
        Command::Audit { .. } => RunMode::Audit,
        Command::CheckConfig { .. } => RunMode::CheckConfig,
        Command::Seeds { .. } => RunMode::Seeds,
    }
}

fn dispatch() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    let _ = MODE.set(mode_of(&cli.command));
    // Debug builds only (the tests' binary): a way to reach the panic path,
    // which must still end in one evidence document, exit 70, `internal`.
    // Release builds (the package) have no such switch.
    #[cfg(debug_assertions)]
    if std::env::var_os("OPS_WARDEN_DEBUG_PANIC").is_some() {
        panic!("OPS_WARDEN_DEBUG_PANIC is set");
    }
    if !matches!(cli.command, Command::ForceCommand) {
        init_host_logging();
    }
    match cli.command {
        Command::ForceCommand => finish(crate::run::force_command::force_command(&cli.config)),
        Command::Audit { action } => report(audit_cmd(&cli.config, action)),
        Command::CheckConfig {
            online,
            sshd,
            sshd_config,
            show,
        } => report(check_config(
            &cli.config,
            crate::check::CheckOpts {
                online,
                sshd,
                sshd_config,
                show,
            },
        )),
        Command::Bootstrap {
            openbao_addr,
            openbao_ca_bundle,
            operator_key_file,
            keep_operator_key_file,
            runtime_key_file,
            skip_event,
            plan,
            rotate,
        } => {
            let args = crate::run::attended::AttendedArgs {
                openbao_addr,
                openbao_ca_bundle,
                operator_key_file,
                keep_operator_key_file,
                runtime_key_file,
                opts: crate::bootstrap::Options {
                    skip_event,
                    plan,
                    rotate,
                },
            };
            finish(crate::run::attended::bootstrap(&cli.config, args))
        }
        Command::Seeds { action } => report(seeds_cmd(action)),
    }
}

fn finish(done: crate::run::Finished) -> u8 {
    if let Some(line) = &done.stderr_line {
        let _ = writeln!(std::io::stderr(), "{line}");
    }
    emit(&done.evidence);
    done.exit_code
}

fn seeds_cmd(action: SeedsCmd) -> Result<u8, Error> {
    match action {
        SeedsCmd::Check(f) => {
            let s = crate::bootstrap::seeds::load(&f.manifest, &f.widgets, &f.hub, None)?;
            emit(&json!({
                "ok": true,
                "hub": s.hub,
                "digest": s.digest,
                "widget_types": s.widget_types,
                "event_types": s.event_types,
                "annotation_categories": s.annotation_categories,
                "widgets": s.widgets.iter().map(|w| &w.key).collect::<Vec<_>>(),
            }));
            Ok(exit::OK)
        }
        SeedsCmd::RenderSql(f) => {
            let s = crate::bootstrap::seeds::load(&f.manifest, &f.widgets, &f.hub, None)?;
            let mut out = std::io::stdout().lock();
            out.write_all(crate::bootstrap::sql::render(&s).as_bytes())
                .map_err(|e| Error::Io(e.to_string()))?;
            Ok(exit::OK)
        }
    }
}

/// Diagnostics of host-side commands: WARN and up to stderr, with vaultrs and
/// rustify (which log raw response bodies) and the HTTP stack switched off.
/// Force-command mode installs nothing: its stderr belongs to the SSH client,
/// and the level is never taken from `RUST_LOG` (a client could set it).
fn init_host_logging() {
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::prelude::*;
    let targets = Targets::new()
        .with_default(LevelFilter::WARN)
        .with_target("vaultrs", LevelFilter::OFF)
        .with_target("rustify", LevelFilter::OFF)
        .with_target("reqwest", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("hyper_util", LevelFilter::OFF);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(targets)
        .try_init();
}

/// Writes one JSON document to stdout. A closed stdout (the caller hung up)
/// is not an error worth more than that: the audit record is already written.
pub fn emit(doc: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, doc)
        .map_err(std::io::Error::from)
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| out.flush());
}

fn report(r: Result<u8, Error>) -> u8 {
    match r {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "ops-warden: {} ({})", e, e.code());
            e.exit_code()
        }
    }
}

fn audit_path(cfg_path: &std::path::Path, file: Option<PathBuf>) -> Result<PathBuf, Error> {
    match file {
        Some(f) => Ok(f),
        None => Ok(config::load(cfg_path)?.audit_path),
    }
}

/// Who may send anchor lines: root and the lane user (the config's, else
/// the audit folder's owner), running this binary or the installed one.
fn anchor_senders(cfg: Option<&config::Config>) -> audit::anchor::Senders {
    use std::os::unix::fs::MetadataExt;
    let mut uids = vec![0];
    if let Some(c) = cfg {
        uids.extend(c.lane_uid());
        let folder = c
            .audit_path
            .parent()
            .and_then(|p| std::fs::metadata(p).ok());
        uids.extend(folder.map(|m| m.uid()));
    }
    uids.sort_unstable();
    uids.dedup();
    let mut exes = vec![crate::INSTALLED_BINARY.to_string()];
    let me = std::env::current_exe().and_then(std::fs::canonicalize);
    exes.extend(me.ok().and_then(|p| p.to_str().map(String::from)));
    exes.dedup();
    audit::anchor::Senders { uids, exes }
}

fn audit_cmd(cfg_path: &std::path::Path, action: AuditCmd) -> Result<u8, Error> {
    match action {
        AuditCmd::Verify {
            files,
            anchor,
            host,
            require_anchored,
            allow_new,
            allow_partial,
            json,
        } => {
            let cfg = match config::load(cfg_path) {
                Ok(c) => Some(c),
                Err(e) if files.is_empty() => return Err(e),
                Err(_) => None,
            };
            let live = cfg
                .as_ref()
                .map(|c| AuditLog::new(&c.audit_path).trusting(c.lane_uid()));
            let files = if files.is_empty() {
                vec![live
                    .as_ref()
                    .map(|l| l.path().to_path_buf())
                    .unwrap_or_default()]
            } else {
                files
            };
            // The head file speaks for the live log only.
            let live = live.filter(|l| files.last().map(PathBuf::as_path) == Some(l.path()));
            let opts = audit::VerifyOptions {
                allow_new,
                allow_partial,
                anchor,
                host: Some(host.unwrap_or_else(crate::os::host::hostname)),
                senders: anchor_senders(cfg.as_ref()),
                require_anchored,
            };
            let r = audit::verify_files(&files, live.as_ref(), &opts).finished();
            use std::io::IsTerminal;
            if json || !std::io::stdout().is_terminal() {
                emit(&serde_json::to_value(&r).map_err(|e| Error::Internal(e.to_string()))?);
            } else {
                println!("{}", r.summary());
            }
            Ok(match r.status {
                audit::Status::Ok => exit::OK,
                audit::Status::Empty => exit::NOINPUT,
                audit::Status::Broken => exit::DATAERR,
            })
        }
        AuditCmd::Correlate {
            openbao_audit,
            files,
            json,
        } => {
            let files = if files.is_empty() {
                vec![config::load(cfg_path)?.audit_path]
            } else {
                files
            };
            let r = audit::correlate::correlate(&files, &openbao_audit);
            use std::io::IsTerminal;
            if json || !std::io::stdout().is_terminal() {
                emit(&serde_json::to_value(&r).map_err(|e| Error::Internal(e.to_string()))?);
            } else {
                println!("{}", r.summary());
            }
            Ok(if r.ok { exit::OK } else { exit::DATAERR })
        }
        AuditCmd::Show {
            since,
            key_id,
            outcome,
            json,
            file,
        } => {
            let path = audit_path(cfg_path, file)?;
            let filter = ShowFilter {
                since: since
                    .map(|s| ShowFilter::parse_since(&s, chrono::Utc::now()))
                    .transpose()?,
                key_id,
                outcome: outcome.map(|o| ShowFilter::parse_outcome(&o)).transpose()?,
            };
            audit::show(&path, &filter, json, &mut std::io::stdout().lock())?;
            Ok(exit::OK)
        }
    }
}

/// check-config opens the AppRole files and, with `--online`, logs in to
/// OpenBao: it runs hardened as the runs do (umask 077, no core dump, not
/// dumpable, inherited descriptors close-on-exec) with the environment
/// cleared to the allowlist (it reads none of it: the config says all), so
/// the secret_id and the login token never sit in a dumpable process and no
/// variable steers the HTTP stack. No signal flags: nothing here has a
/// critical section, and Ctrl-C must still end a check waiting on a service.
fn check_config(cfg_path: &std::path::Path, opts: crate::check::CheckOpts) -> Result<u8, Error> {
    crate::os::harden::harden_process()
        .map_err(|e| Error::Internal(format!("hardening failed: {e}")))?;
    let _ = crate::env::Environ::capture_and_clear(crate::env::Mode::Attended);
    let (report, exit) = crate::check::report(cfg_path, opts);
    emit(&serde_json::to_value(&report).map_err(|e| Error::Internal(e.to_string()))?);
    Ok(exit)
}

#[cfg(test)]
mod help_tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every flag and argument of every command says what it does.
    #[test]
    fn every_flag_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let builtin = matches!(a.get_id().as_str(), "help" | "version");
                if !builtin && a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} --{}", a.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "ops-warden", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}

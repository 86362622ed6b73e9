//! `SSH_ORIGINAL_COMMAND` into a typed request, without any shell.

use std::ffi::OsStr;

use crate::error::Error;

/// Longest command accepted.
pub const MAX_COMMAND_LEN: usize = 1024;

/// Characters a shell would interpret. No shell runs here; a command holding
/// one is a caller trying something, and is named as such.
const SHELL_SYNTAX: &[u8] = b";|&$`<>(){}[]\\'\"*?~#!";

/// Flags of the `bootstrap` verb.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BootstrapFlags {
    /// Do not post the readiness event.
    pub skip_event: bool,
    /// Read everything, report what would change, change nothing.
    pub plan: bool,
    /// Replace a stored runtime key that no longer works.
    pub rotate: bool,
}

/// The fixed verb set of the lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Whoami,
    Gate,
    Bootstrap(BootstrapFlags),
    Verify,
    Help,
}

impl Verb {
    /// The canonical text of the request (what evidence and audit show).
    pub fn canonical(&self) -> String {
        match self {
            Verb::Whoami => "whoami".into(),
            Verb::Gate => "gate".into(),
            Verb::Verify => "verify".into(),
            Verb::Help => "help".into(),
            Verb::Bootstrap(f) => {
                let mut s = String::from("bootstrap");
                if f.skip_event {
                    s.push_str(" --skip-event");
                }
                if f.plan {
                    s.push_str(" --plan");
                }
                if f.rotate {
                    s.push_str(" --rotate");
                }
                s
            }
        }
    }
}

/// The usage text, also sent as JSON to an interactive `ssh host`.
pub const USAGE: &str = "ssh <host> <verb>; verbs: whoami | gate | bootstrap [--skip-event] [--plan] [--rotate] | verify | help";

/// Parses the client's command. `None` or blank is an interactive login.
pub fn parse(raw: Option<&OsStr>) -> Result<Verb, Error> {
    let raw = match raw {
        None => return Err(Error::Usage(format!("no command given; {USAGE}"))),
        Some(r) => r.as_encoded_bytes(),
    };
    if raw.len() > MAX_COMMAND_LEN {
        return Err(Error::CommandTooLong {
            len: raw.len(),
            max: MAX_COMMAND_LEN,
        });
    }
    if !raw.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(Error::CommandNotPrintable);
    }
    if raw.iter().any(|b| SHELL_SYNTAX.contains(b)) {
        return Err(Error::CommandShellSyntax);
    }
    // Printable ASCII was checked, so this is valid UTF-8.
    let text = std::str::from_utf8(raw).map_err(|_| Error::CommandNotPrintable)?;
    let mut tokens = text.split(' ').filter(|t| !t.is_empty());
    let verb = match tokens.next() {
        None => return Err(Error::Usage(format!("no command given; {USAGE}"))),
        Some(v) => v,
    };
    let rest: Vec<&str> = tokens.collect();
    let no_args = |v: Verb| match rest.first() {
        None => Ok(v),
        Some(a) => Err(Error::CommandBadArgument(format!(
            "{verb} takes no argument, got {a:?}"
        ))),
    };
    match verb {
        "whoami" => no_args(Verb::Whoami),
        "gate" => no_args(Verb::Gate),
        "verify" => no_args(Verb::Verify),
        "help" => no_args(Verb::Help),
        "bootstrap" => {
            let mut flags = BootstrapFlags::default();
            for arg in rest {
                let slot = match arg {
                    "--skip-event" => &mut flags.skip_event,
                    "--plan" => &mut flags.plan,
                    "--rotate" => &mut flags.rotate,
                    other => {
                        return Err(Error::CommandBadArgument(format!(
                            "bootstrap does not take {other:?}"
                        )))
                    }
                };
                if *slot {
                    return Err(Error::CommandBadArgument(format!("{arg} given twice")));
                }
                *slot = true;
            }
            if flags.plan && flags.rotate {
                return Err(Error::CommandBadArgument(
                    "--plan changes nothing, so it cannot --rotate".into(),
                ));
            }
            Ok(Verb::Bootstrap(flags))
        }
        other => Err(Error::CommandUnknownVerb(other.to_string())),
    }
}

/// A bounded, escaped rendering of untrusted command text for evidence and audit.
pub fn display_untrusted(raw: Option<&OsStr>) -> Option<String> {
    raw.map(|r| crate::text::escape_untrusted(&r.to_string_lossy(), 128))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Verb, Error> {
        parse(Some(OsStr::new(s)))
    }

    #[test]
    fn verbs_parse() {
        assert_eq!(p("whoami"), Ok(Verb::Whoami));
        assert_eq!(p("  gate "), Ok(Verb::Gate));
        assert_eq!(p("verify"), Ok(Verb::Verify));
        assert_eq!(p("help"), Ok(Verb::Help));
        assert_eq!(
            p("bootstrap"),
            Ok(Verb::Bootstrap(BootstrapFlags::default()))
        );
        let f = p("bootstrap --plan --skip-event").unwrap();
        assert_eq!(
            f,
            Verb::Bootstrap(BootstrapFlags {
                skip_event: true,
                plan: true,
                rotate: false
            })
        );
        assert_eq!(f.canonical(), "bootstrap --skip-event --plan");
    }

    #[test]
    fn empty_is_usage() {
        assert_eq!(parse(None).unwrap_err().code(), "usage");
        assert_eq!(p("").unwrap_err().code(), "usage");
        assert_eq!(p("   ").unwrap_err().code(), "usage");
        assert_eq!(p("").unwrap_err().exit_code(), 64);
    }

    #[test]
    fn injection_is_refused_with_its_own_code() {
        for cmd in [
            "whoami; id",
            "$(id)",
            "`id`",
            "whoami | sh",
            "whoami && id",
            "whoami > /tmp/x",
        ] {
            let e = p(cmd).unwrap_err();
            assert_eq!(e.code(), "command-shell-syntax", "{cmd}");
            assert_eq!(e.exit_code(), 77);
        }
        for cmd in ["whoami\nid", "whoami\tid", "who\u{0}ami", "whoami\u{e9}"] {
            assert_eq!(
                p(cmd).unwrap_err().code(),
                "command-not-printable",
                "{cmd:?}"
            );
        }
    }

    #[test]
    fn unknown_verbs_and_arguments() {
        assert_eq!(p("id").unwrap_err().code(), "command-unknown-verb");
        assert_eq!(p("WHOAMI").unwrap_err().code(), "command-unknown-verb");
        assert_eq!(
            p("whoami --all").unwrap_err().code(),
            "command-bad-argument"
        );
        assert_eq!(
            p("bootstrap --force").unwrap_err().code(),
            "command-bad-argument"
        );
        assert_eq!(
            p("bootstrap --plan --plan").unwrap_err().code(),
            "command-bad-argument"
        );
        assert_eq!(
            p("bootstrap --plan --rotate").unwrap_err().code(),
            "command-bad-argument"
        );
        assert_eq!(
            p("bootstrap --plan=1").unwrap_err().code(),
            "command-bad-argument"
        );
    }

    #[test]
    fn length_is_bounded() {
        let long = format!("whoami{}", " ".repeat(MAX_COMMAND_LEN));
        assert_eq!(p(&long).unwrap_err().code(), "command-too-long");
    }

    #[test]
    fn untrusted_text_is_escaped_and_capped() {
        let shown = display_untrusted(Some(OsStr::new("a\nb\u{1b}[31m"))).unwrap();
        assert!(
            !shown.contains('\n') && !shown.contains('\u{1b}'),
            "{shown}"
        );
        let long = display_untrusted(Some(OsStr::new(&"x".repeat(5000)))).unwrap();
        assert!(long.len() <= 140);
    }
}

//! `--sshd`, every connection: sshd_config and the files it includes, read
//! as text, for the `AcceptEnv` lines a login of the lane user can get.
//!
//! `sshd -T -C` answers for one connection (user, host, address). The
//! AcceptEnv lines of every Match block a connection matches add up, so a
//! block for another address or port (`Match Address 10.0.0.0/8`) adds its
//! names there and only there. Hence every block is read: one that can
//! apply to the lane user (its User and Group criteria admit the lane user;
//! any other criterion may hold on some connection) must accept nothing but
//! the snippet's dummy name. The global section's list counts only when no
//! block that always applies to the lane user sets AcceptEnv: sshd replaces
//! the global list with the matching blocks' lines. When in doubt, a block
//! counts.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The one name the snippet's Match block accepts; no client sends it.
pub const DUMMY_NAME: &str = "OPS_WARDEN_ACCEPTS_NO_ENVIRONMENT";

/// Where sshd starts a relative Include path (its SSHDIR).
const SSHDIR: &str = "/etc/ssh";
/// How deep Includes nest (sshd's own limit).
const MAX_DEPTH: usize = 16;
/// How many files one scan reads at most.
const MAX_FILES: usize = 512;
/// The largest configuration file read.
const MAX_FILE: u64 = 1 << 20;

/// The login the Match blocks are judged for.
pub struct Login<'a> {
    pub user: &'a str,
    /// Every group the user is in (primary and supplementary), by name.
    pub groups: &'a [String],
}

/// Whether lines apply to a login of the lane user: never, on some
/// connections, or on every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Applies {
    Never,
    Maybe,
    Always,
}

/// The section a line is in.
#[derive(Debug, Clone, Copy)]
struct Section {
    applies: Applies,
    /// Outside every Match block: sshd's global settings.
    global: bool,
}

impl Section {
    const GLOBAL: Section = Section {
        applies: Applies::Always,
        global: true,
    };
}

/// One `AcceptEnv` line and where it is.
struct AcceptLine {
    at: String,
    section: Section,
    names: Vec<String>,
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Each line (`file:line`) that accepts a client variable for the lane
    /// user, and each file that could not be read.
    pub problems: Vec<String>,
    /// Configuration files read.
    pub files: usize,
}

/// Reads `config` and the files it includes and judges every AcceptEnv line.
pub fn scan(config: &Path, login: &Login) -> Scan {
    let mut r = Reader {
        login,
        lines: Vec::new(),
        problems: Vec::new(),
        files: 0,
    };
    r.file(config, Section::GLOBAL, 0);
    let mut problems = r.problems;
    problems.extend(judge(&r.lines));
    Scan {
        problems,
        files: r.files,
    }
}

/// The lines that accept a name other than the dummy for some login of the
/// lane user. A block that always applies and sets AcceptEnv replaces the
/// global list.
fn judge(lines: &[AcceptLine]) -> Vec<String> {
    let replaced = lines
        .iter()
        .any(|l| !l.section.global && l.section.applies == Applies::Always);
    lines
        .iter()
        .filter(|l| l.section.applies != Applies::Never && !(l.section.global && replaced))
        .filter_map(|l| {
            let extra: Vec<&str> = l
                .names
                .iter()
                .map(String::as_str)
                .filter(|n| *n != DUMMY_NAME)
                .collect();
            let where_ = if l.section.global {
                "global, and no Match block that always applies to the lane user replaces it"
            } else {
                "in a Match block that can apply to the lane user"
            };
            (!extra.is_empty()).then(|| {
                format!(
                    "{}: AcceptEnv {} ({where_})",
                    l.at,
                    crate::text::escape_untrusted(&extra.join(" "), 200)
                )
            })
        })
        .collect()
}

struct Reader<'a> {
    login: &'a Login<'a>,
    lines: Vec<AcceptLine>,
    problems: Vec<String>,
    files: usize,
}

impl Reader<'_> {
    /// Reads one file whose lines start in `outer` (the section of the
    /// Include that named it). A Match block ends at the end of its file,
    /// as in sshd.
    fn file(&mut self, path: &Path, outer: Section, depth: usize) {
        if self.files >= MAX_FILES {
            self.problems.push(format!(
                "more than {MAX_FILES} files included; stopped reading"
            ));
            return;
        }
        let text = match read_text(path) {
            Ok(t) => t,
            Err(e) => {
                self.problems.push(e);
                return;
            }
        };
        self.files += 1;
        let mut section = outer;
        for (i, line) in text.lines().enumerate() {
            let parts = words(line);
            let Some((keyword, args)) = parts.split_first() else {
                continue;
            };
            let at = || format!("{}:{}", path.display(), i + 1);
            match keyword.to_ascii_lowercase().as_str() {
                "match" => {
                    section = Section {
                        applies: outer.applies.min(match_applies(args, self.login)),
                        global: false,
                    }
                }
                "acceptenv" => self.lines.push(AcceptLine {
                    at: at(),
                    section,
                    names: args.to_vec(),
                }),
                "include" if depth >= MAX_DEPTH => self
                    .problems
                    .push(format!("{}: Includes nest deeper than {MAX_DEPTH}", at())),
                "include" => {
                    for arg in args {
                        for f in expand(arg) {
                            self.file(&f, section, depth + 1);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// A line as sshd splits it: the keyword (ending at whitespace or one `=`),
/// then its arguments, separated by whitespace, with `"…"`/`'…'` quoting and
/// `\` escapes; a word starting with `#` starts a comment. Empty for a blank
/// or comment line.
fn words(line: &str) -> Vec<String> {
    let line = line.trim_start();
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = &line[..end];
    if keyword.is_empty() || keyword.starts_with('#') {
        return Vec::new();
    }
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    let mut out = vec![keyword.to_string()];
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if matches!(chars.peek(), None | Some('#')) {
            break;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _) => match chars.peek() {
                    Some(&n) if matches!(n, '"' | '\'' | '\\') || (quote.is_none() && n == ' ') => {
                        word.push(n);
                        chars.next();
                    }
                    _ => word.push('\\'),
                },
                ('"' | '\'', None) => quote = Some(c),
                (_, Some(q)) if c == q => quote = None,
                (_, None) if c.is_whitespace() => break,
                _ => word.push(c),
            }
        }
        out.push(word);
    }
    out
}

/// Whether a `Match` line's criteria can hold for a login of the lane user.
/// User and Group are decided as sshd decides them; Invalid-User never holds
/// for an existing account; any other criterion (Address, Host,
/// LocalAddress, LocalPort, RDomain, or one this reader does not know) may
/// hold on some connection.
fn match_applies(criteria: &[String], login: &Login) -> Applies {
    let mut applies = Applies::Always;
    let mut rest = criteria.iter();
    while let Some(word) = rest.next() {
        let (name, inline) = match word.split_once('=') {
            Some((n, v)) => (n.to_ascii_lowercase(), Some(v.to_string())),
            None => (word.to_ascii_lowercase(), None),
        };
        match name.as_str() {
            "all" => {}
            "invalid-user" => return Applies::Never,
            "user" | "group" | "host" | "address" | "localaddress" | "localport" | "rdomain" => {
                let Some(list) = inline.or_else(|| rest.next().cloned()) else {
                    return applies.min(Applies::Maybe);
                };
                let holds = match name.as_str() {
                    "user" => list_match(login.user, &list) == Some(true),
                    "group" => group_match(login.groups, &list),
                    _ => {
                        applies = applies.min(Applies::Maybe);
                        continue;
                    }
                };
                if !holds {
                    return Applies::Never;
                }
            }
            // Its arguments cannot be told apart from the next criterion.
            _ => return applies.min(Applies::Maybe),
        }
    }
    applies
}

/// sshd's pattern list (`match_pattern_list`): comma-separated `*`/`?`
/// patterns, each may be negated with `!`. `Some(false)` when a negated
/// pattern matches (it wins), `Some(true)` when only positive ones do,
/// `None` when none does.
fn list_match(s: &str, list: &str) -> Option<bool> {
    let mut positive = false;
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if wildcard(pattern, s, false) {
            if negated {
                return Some(false);
            }
            positive = true;
        }
    }
    positive.then_some(true)
}

/// sshd's Match Group: some group of the user matches the list and none
/// matches a negated pattern.
fn group_match(groups: &[String], list: &str) -> bool {
    let mut found = false;
    for g in groups {
        match list_match(g, list) {
            Some(false) => return false,
            Some(true) => found = true,
            None => {}
        }
    }
    found
}

/// The files an Include argument names: relative to /etc/ssh, glob patterns
/// (`*`, `?`, `[…]`) in any component, sorted; none when nothing matches
/// (sshd skips such an Include too).
fn expand(arg: &str) -> Vec<PathBuf> {
    let full = if arg.starts_with('/') {
        PathBuf::from(arg)
    } else {
        Path::new(SSHDIR).join(arg)
    };
    let mut found = vec![PathBuf::new()];
    for part in full.components() {
        let name = part.as_os_str().to_string_lossy();
        let magic = matches!(part, Component::Normal(_)) && name.contains(['*', '?', '[']);
        if magic {
            found = found.iter().flat_map(|dir| matching(dir, &name)).collect();
        } else {
            for p in &mut found {
                p.push(part);
            }
        }
    }
    found.retain(|p| p.exists());
    found.sort();
    found
}

/// The entries of `dir` a glob component matches (a leading `.` only
/// when the pattern has one).
fn matching(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') || pattern.starts_with('.'))
        .filter(|n| wildcard(pattern, n, true))
        .map(|n| dir.join(n))
        .collect()
}

/// One piece of a wildcard pattern.
enum Tok {
    Star,
    One,
    Lit(char),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

fn tokens(pattern: &str, classes: bool) -> Vec<Tok> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::One),
            '[' if classes => {
                if let Some((tok, next)) = class(&chars, i) {
                    out.push(tok);
                    i = next;
                    continue;
                }
                out.push(Tok::Lit('['));
            }
            '\\' if classes && i + 1 < chars.len() => {
                i += 1;
                out.push(Tok::Lit(chars[i]));
            }
            c => out.push(Tok::Lit(c)),
        }
        i += 1;
    }
    out
}

/// The `[…]` class opening at `chars[start]`, and the index after its `]`;
/// `None` when it does not close (then `[` is literal, as in glob(3)).
fn class(chars: &[char], start: usize) -> Option<(Tok, usize)> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let first = i;
    let mut ranges = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c == ']' && i > first {
            return Some((Tok::Class { negated, ranges }, i + 1));
        }
        match (chars.get(i + 1), chars.get(i + 2)) {
            (Some('-'), Some(&end)) if end != ']' => {
                ranges.push((c, end));
                i += 3;
            }
            _ => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
    None
}

/// `*` any run of characters, `?` one; with `classes`, also `[…]` and `\`
/// escapes (glob(3)); without, as sshd's `match_pattern`.
fn wildcard(pattern: &str, text: &str, classes: bool) -> bool {
    let toks = tokens(pattern, classes);
    let text: Vec<char> = text.chars().collect();
    let one = |tok: &Tok, c: char| match tok {
        Tok::Star | Tok::One => true,
        Tok::Lit(l) => *l == c,
        Tok::Class { negated, ranges } => {
            ranges.iter().any(|(a, b)| (*a..=*b).contains(&c)) != *negated
        }
    };
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Star) => {
                star = Some((p, t));
                p += 1;
            }
            Some(tok) if one(tok, text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|tok| matches!(tok, Tok::Star))
}

/// A configuration file's text (at most [`MAX_FILE`] bytes; a FIFO does not
/// hang the open, and only a regular file is read).
pub(super) fn read_text(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC).bits())
        .open(path)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(format!("{shown} is larger than {MAX_FILE} bytes"));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
#[path = "sshd_scan_tests.rs"]
mod tests;

//! `--sshd` warnings: what a login of the lane user reads before ops-warden
//! starts, which the binary cannot scrub. sshd's PAM stack with
//! `pam_env.so user_readenv=1` (Debian's default) loads the user's
//! `~/.pam_environment`: an `LD_PRELOAD` written there once runs in every
//! later session, before `main`. So the lane user's home must be a folder it
//! cannot write (a root-owned empty one), and PAM should not read user
//! environment files at all (`user_readenv=0`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Group, User};

use super::sshd_scan::read_text;
use crate::config::{LaneUser, Problem, Problems};

/// Where PAM keeps its service files, and sshd's service name.
const PAM_DIR: &str = "/etc/pam.d";
const PAM_SERVICE: &str = "sshd";

/// The home folder the package gives the lane user.
const PACKAGE_HOME: &str = "/usr/lib/ops-warden/home";

/// The warnings, keyed `lane.user`: a home the lane user can write, and
/// (when sshd uses PAM) PAM reading user environment files.
pub(super) fn warnings(user: &LaneUser, uses_pam: bool) -> Vec<Problem> {
    let mut w = Problems::default();
    if let Some(m) = home_warning(user) {
        w.add("lane.user", m);
    }
    if uses_pam {
        let at = pam_user_readenv(Path::new(PAM_DIR), PAM_SERVICE);
        if !at.is_empty() {
            w.add(
                "lane.user",
                format!(
                    "sshd's PAM stack reads each user's ~/.pam_environment (pam_env.so \
                     user_readenv=1 at {}): variables there (LD_PRELOAD) act on every login \
                     of {} before ops-warden starts; set user_readenv=0",
                    at.join(", "),
                    user.name
                ),
            );
        }
    }
    w.0
}

/// Every group `user` is in (its primary group and the supplementary ones).
fn group_ids(user: &LaneUser) -> Vec<u32> {
    std::ffi::CString::new(user.name.as_str())
        .ok()
        .and_then(|n| nix::unistd::getgrouplist(&n, Gid::from_raw(user.gid)).ok())
        .map(|g| g.into_iter().map(Gid::as_raw).collect())
        .unwrap_or_else(|| vec![user.gid])
}

/// The names of every group `user` is in (for sshd's `Match Group`).
pub(super) fn group_names(user: &LaneUser) -> Vec<String> {
    group_ids(user)
        .into_iter()
        .filter_map(|g| Group::from_gid(Gid::from_raw(g)).ok().flatten())
        .map(|g| g.name)
        .collect()
}

/// A home the lane user can write, or one that cannot be looked up.
fn home_warning(user: &LaneUser) -> Option<String> {
    if user.uid == 0 {
        return None;
    }
    let home = match User::from_name(&user.name) {
        Ok(Some(u)) => u.dir,
        _ => return Some(format!("{}'s home is not in the user database", user.name)),
    };
    if !home.is_absolute() {
        return Some(format!(
            "{}'s home {home:?} is not an absolute path",
            user.name
        ));
    }
    let gids = group_ids(user);
    let who = Who {
        name: &user.name,
        uid: user.uid,
        gids: &gids,
    };
    let stat = |p: &Path| {
        std::fs::metadata(p).ok().map(|m| Stat {
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode(),
        })
    };
    // The path as written and where its symlinks lead: both must hold.
    let mut paths = vec![home.clone()];
    if let Ok(real) = std::fs::canonicalize(&home) {
        if real != home {
            paths.push(real);
        }
    }
    let why = paths.iter().find_map(|p| home_writable(p, &who, &stat))?;
    Some(format!(
        "{}'s home {}: {why}. A login reads files there before ops-warden starts \
         (PAM's ~/.pam_environment); make it a root-owned empty folder, mode 0755 \
         (the package's: usermod -d {PACKAGE_HOME} {})",
        user.name,
        home.display(),
        user.name
    ))
}

/// Owner, group and mode of a folder.
#[derive(Debug, Clone, Copy)]
struct Stat {
    uid: u32,
    gid: u32,
    mode: u32,
}

/// The lane user, as folder permissions see it.
struct Who<'a> {
    name: &'a str,
    uid: u32,
    /// Every group it is in.
    gids: &'a [u32],
}

/// Why `who` can change what `home` holds, if it can: the home is its own
/// or writable by group or others; or a folder above it is its own or
/// writable by it, so the home could be renamed and replaced (a sticky
/// folder protects an entry that exists and is someone else's).
fn home_writable(home: &Path, who: &Who, stat: &dyn Fn(&Path) -> Option<Stat>) -> Option<String> {
    let mut below_exists = true;
    for (i, dir) in home.ancestors().enumerate() {
        let Some(s) = stat(dir) else {
            below_exists = false;
            continue;
        };
        let (shown, mode) = (dir.display(), s.mode & 0o7777);
        let why = if s.uid == who.uid {
            Some(format!("{shown} is owned by {}", who.name))
        } else if i == 0 {
            (mode & 0o022 != 0)
                .then(|| format!("{shown} is writable by group or others (mode {mode:04o})"))
        } else {
            let sticky = mode & 0o1000 != 0 && below_exists;
            let by_group = mode & 0o020 != 0 && who.gids.contains(&s.gid);
            (!sticky && (mode & 0o002 != 0 || by_group)).then(|| {
                format!(
                    "the folder {shown} above it is writable by {} (mode {mode:04o})",
                    who.name
                )
            })
        };
        if why.is_some() {
            return why;
        }
        below_exists = true;
    }
    None
}

/// `file:line` of every `pam_env.so` line that reads user environment files
/// (`user_readenv=` not 0; pam_env's default is 0) in the service's file and
/// the files it includes (`@include`, `include`, `substack`: one level).
fn pam_user_readenv(dir: &Path, service: &str) -> Vec<String> {
    let top = dir.join(service);
    let Ok(text) = read_text(&top) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (n, words) in pam_lines(&text) {
        match included(&words) {
            Some(name) => {
                let path = if name.starts_with('/') {
                    PathBuf::from(name)
                } else {
                    dir.join(name)
                };
                if let Ok(inner) = read_text(&path) {
                    found.extend(
                        pam_lines(&inner)
                            .into_iter()
                            .filter(|(_, w)| reads_user_env(w))
                            .map(|(m, _)| format!("{}:{m}", path.display())),
                    );
                }
            }
            None if reads_user_env(&words) => found.push(format!("{}:{n}", top.display())),
            None => {}
        }
    }
    found
}

/// A PAM file's lines as words, numbered by their first line: `#` starts a
/// comment, a `\` at the end continues the line, a `[…]` control is one word.
fn pam_lines(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let (start, mut line) = pending.take().unwrap_or((i + 1, String::new()));
        let content = raw.split('#').next().unwrap_or("");
        match content.trim_end().strip_suffix('\\') {
            Some(part) => {
                line.push_str(part);
                line.push(' ');
                pending = Some((start, line));
            }
            None => {
                line.push_str(content);
                out.push((start, pam_words(&line)));
            }
        }
    }
    if let Some((start, line)) = pending {
        out.push((start, pam_words(&line)));
    }
    out.retain(|(_, w)| !w.is_empty());
    out
}

fn pam_words(line: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for w in line.split_whitespace() {
        match out.last_mut() {
            Some(last) if open => {
                last.push(' ');
                last.push_str(w);
                open = !w.contains(']');
            }
            _ => {
                out.push(w.to_string());
                open = w.starts_with('[') && !w.contains(']');
            }
        }
    }
    out
}

/// The file a line includes: `@include name`, or `type include|substack name`.
fn included(words: &[String]) -> Option<&str> {
    match words {
        [at, name, ..] if at == "@include" => Some(name.as_str()),
        [_, control, name, ..] if control == "include" || control == "substack" => {
            Some(name.as_str())
        }
        _ => None,
    }
}

/// A `pam_env.so` line whose last `user_readenv=` is not 0 (read as pam_env
/// reads it, with `atoi`).
fn reads_user_env(words: &[String]) -> bool {
    let Some(at) = words
        .iter()
        .position(|w| Path::new(w).file_name().is_some_and(|n| n == "pam_env.so"))
    else {
        return false;
    };
    words[at + 1..]
        .iter()
        .rev()
        .find_map(|w| w.strip_prefix("user_readenv="))
        .is_some_and(|v| atoi(v) != 0)
}

/// C's `atoi`: an optional sign and the leading digits; 0 without any.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let digits: String = digits
        .chars()
        .take_while(char::is_ascii_digit)
        .take(18)
        .collect();
    let n = digits.parse::<i64>().unwrap_or(0);
    if negative {
        -n
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const LANE: u32 = 990;
    const LANE_GID: u32 = 990;

    const fn folder(uid: u32, gid: u32, mode: u32) -> Stat {
        Stat {
            uid,
            gid,
            mode: 0o040000 | mode,
        }
    }

    const fn root(mode: u32) -> Stat {
        folder(0, 0, mode)
    }

    /// `home_writable` over a made-up tree.
    fn check(tree: &[(&str, Stat)], home: &str) -> Option<String> {
        let map: BTreeMap<PathBuf, Stat> =
            tree.iter().map(|(p, s)| (PathBuf::from(p), *s)).collect();
        let gids = [LANE_GID, 4];
        let who = Who {
            name: "ow-lane",
            uid: LANE,
            gids: &gids,
        };
        home_writable(Path::new(home), &who, &|p: &Path| map.get(p).copied())
    }

    const SYSTEM: [(&str, Stat); 3] = [
        ("/", root(0o755)),
        ("/usr", root(0o755)),
        ("/usr/lib", root(0o755)),
    ];

    fn with(extra: &[(&'static str, Stat)]) -> Vec<(&'static str, Stat)> {
        SYSTEM
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    }

    #[test]
    fn a_root_owned_home_under_root_folders_is_fine() {
        let tree = with(&[
            ("/usr/lib/ops-warden", root(0o755)),
            ("/usr/lib/ops-warden/home", root(0o755)),
        ]);
        assert_eq!(check(&tree, "/usr/lib/ops-warden/home"), None);
    }

    /// N8: the package made the lane's state folder its home.
    #[test]
    fn a_home_the_lane_user_owns_is_named() {
        let lane = folder(LANE, LANE_GID, 0o700);
        let tree = with(&[
            ("/var", root(0o755)),
            ("/var/lib", root(0o755)),
            ("/var/lib/ops-warden", lane),
        ]);
        let why = check(&tree, "/var/lib/ops-warden").unwrap();
        assert!(
            why.contains("/var/lib/ops-warden is owned by ow-lane"),
            "{why}"
        );
        // A root-owned folder inside it can still be swapped by its owner.
        let tree = with(&[
            ("/var", root(0o755)),
            ("/var/lib", root(0o755)),
            ("/var/lib/ops-warden", lane),
            ("/var/lib/ops-warden/home", root(0o755)),
        ]);
        let why = check(&tree, "/var/lib/ops-warden/home").unwrap();
        assert!(
            why.contains("/var/lib/ops-warden is owned by ow-lane"),
            "{why}"
        );
    }

    #[test]
    fn a_group_or_world_writable_home_is_named() {
        for mode in [0o775, 0o757] {
            let tree = with(&[("/usr/lib/h", root(mode))]);
            let why = check(&tree, "/usr/lib/h").unwrap();
            assert!(why.contains("writable by group or others"), "{why}");
        }
    }

    #[test]
    fn a_folder_above_counts_when_the_lane_user_can_write_it() {
        // Group-writable, and the lane user is in that group.
        let srv = folder(0, 4, 0o775);
        let tree = with(&[("/srv", srv), ("/srv/h", root(0o755))]);
        assert!(check(&tree, "/srv/h").unwrap().contains("above it"));
        // Group-writable by a group the lane user is not in.
        let srv = folder(0, 27, 0o775);
        let tree = with(&[("/srv", srv), ("/srv/h", root(0o755))]);
        assert_eq!(check(&tree, "/srv/h"), None);
        // Sticky and world-writable: the root-owned entry cannot be moved...
        let tree = with(&[("/tmp", root(0o1777)), ("/tmp/h", root(0o755))]);
        assert_eq!(check(&tree, "/tmp/h"), None);
        // ...but a missing one can be made by anyone.
        let tree = with(&[("/tmp", root(0o1777))]);
        assert!(check(&tree, "/tmp/h").unwrap().contains("/tmp above it"));
    }

    fn pam(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<String>) {
        let d = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(d.path().join(name), text).unwrap();
        }
        let found = pam_user_readenv(d.path(), "sshd");
        let shown = d.path().display().to_string();
        let found = found.into_iter().map(|f| f.replace(&shown, "D")).collect();
        (d, found)
    }

    /// N8: Debian 12's stock /etc/pam.d/sshd.
    #[test]
    fn debians_sshd_pam_file_is_found() {
        let (_d, found) = pam(&[
            (
                "sshd",
                "# PAM configuration for the Secure Shell service\n\
                 @include common-auth\n\
                 account    required     pam_nologin.so\n\
                 session [success=ok ignore=ignore module_unknown=ignore default=bad]        pam_selinux.so close\n\
                 session    required     pam_env.so # [1]\n\
                 session    required     pam_env.so user_readenv=1 envfile=/etc/default/locale\n\
                 @include common-password\n",
            ),
            ("common-auth", "auth [success=1 default=ignore] pam_unix.so nullok\n"),
        ]);
        assert_eq!(found, ["D/sshd:6"]);
    }

    #[test]
    fn included_files_and_module_paths_are_read_one_level_deep() {
        let (_d, found) = pam(&[
            ("sshd", "session include common-session\n-session substack extra\n"),
            (
                "common-session",
                "session optional pam_umask.so\n\
                 session [default=1] /lib/x86_64-linux-gnu/security/pam_env.so \\\n  user_readenv=01\n",
            ),
            ("extra", "@include deeper\nsession required pam_env.so user_readenv=1 user_readenv=0\n"),
            ("deeper", "session required pam_env.so user_readenv=1\n"),
        ]);
        assert_eq!(found, ["D/common-session:2"]);
    }

    #[test]
    fn user_readenv_0_or_absent_or_commented_is_fine() {
        let (_d, found) = pam(&[(
            "sshd",
            "session required pam_env.so user_readenv=0\n\
             session required pam_env.so\n\
             # session required pam_env.so user_readenv=1\n\
             session required pam_env.so # user_readenv=1\n\
             session required pam_env.so user_readenv=x\n\
             session required pam_foo.so user_readenv=1\n",
        )]);
        assert!(found.is_empty(), "{found:?}");
        let (_d, found) = pam(&[]);
        assert!(found.is_empty(), "no PAM file: nothing to say");
    }

    #[test]
    fn atoi_reads_as_c_does() {
        assert_eq!(atoi("1"), 1);
        assert_eq!(atoi("01"), 1);
        assert_eq!(atoi("1x"), 1);
        assert_eq!(atoi("x1"), 0);
        assert_eq!(atoi("-2"), -2);
        assert_eq!(atoi(""), 0);
    }
}

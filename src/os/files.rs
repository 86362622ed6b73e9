//! Opening files that decide what ops-warden trusts.
//!
//! A file is trusted only after its own owner, type, mode and size are
//! checked on the opened descriptor (no TOCTOU between check and read), it
//! was opened without following a final symlink, and (where asked) its parent
//! folder is not writable by anyone but root or the owner.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::unistd::{geteuid, getuid};

/// root, the running user, or `lane` (the config's lane user, whose files
/// root — attended use, `check-config` — trusts like its own: the host's
/// AppRole files, log and lock are the lane user's). The lane user comes
/// from the config value, never from process-wide state.
pub(crate) fn trusted_owner(uid: u32, lane: Option<u32>) -> bool {
    uid == 0 || uid == geteuid().as_raw() || lane == Some(uid)
}

/// Who may own a trusted file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    /// root, the effective user or the lane user (config, CA keys, AppRole files).
    RootOrSelf,
    /// Exactly the real user running the program (attended key files, SSH auth info).
    Caller,
}

/// What a trusted file must look like.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Shown in error messages: "config", "role_id file", ...
    pub what: &'static str,
    pub owners: Owners,
    /// Permission bits that must all be clear (0o022: nobody else may write;
    /// 0o077: nobody else may read or write).
    pub forbidden_mode: u32,
    pub max_size: u64,
    pub check_parent: bool,
    /// The lane user, trusted as an owner with [`Owners::RootOrSelf`].
    pub lane: Option<u32>,
}

impl Rule {
    pub const CONFIG: Rule = Rule {
        what: "config",
        owners: Owners::RootOrSelf,
        forbidden_mode: 0o022,
        max_size: 1 << 20,
        check_parent: true,
        lane: None,
    };
    pub const SECRET: Rule = Rule {
        what: "secret file",
        owners: Owners::RootOrSelf,
        // 0600 or 0400, as the README says: one rule, enforced.
        forbidden_mode: 0o177,
        max_size: 64 << 10,
        check_parent: true,
        lane: None,
    };
    pub const ATTENDED_KEY: Rule = Rule {
        what: "key file",
        owners: Owners::Caller,
        forbidden_mode: 0o177,
        max_size: 8 << 10,
        // Root removes the file after the run: no folder above it may be
        // someone else's to swap.
        check_parent: true,
        lane: None,
    };

    pub fn named(mut self, what: &'static str) -> Rule {
        self.what = what;
        self
    }

    /// Trusts files the lane user owns too (`RootOrSelf` rules).
    pub fn trusting(mut self, lane: Option<u32>) -> Rule {
        self.lane = lane;
        self
    }
}

/// Opens `path` read-only, without following a final symlink, and checks it.
pub fn open_trusted(path: &Path, rule: Rule) -> Result<File, String> {
    let shown = path.display();
    let file = OpenOptions::new()
        .read(true)
        // O_NONBLOCK: a FIFO (or device) must not hang the open; the type is
        // checked on the descriptor right after.
        .custom_flags(
            (OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK).bits(),
        )
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(40) => format!("{} {shown} is a symbolic link", rule.what),
            _ => format!("{} {shown}: {}", rule.what, e.kind()),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{} {shown}: {e}", rule.what))?;
    check_meta(&meta, rule).map_err(|m| format!("{} {shown} {m}", rule.what))?;
    if rule.owners == Owners::Caller {
        // What the caller hands over must be a file of its own, not another
        // name for one (a hard link) nor a kernel file (procfs, sysfs).
        if meta.nlink() != 1 {
            return Err(format!("{} {shown} has {} links", rule.what, meta.nlink()));
        }
        if is_kernel_fs(&file) {
            return Err(format!("{} {shown} is on procfs or sysfs", rule.what));
        }
    }
    if rule.check_parent {
        check_ancestors(path, Some(meta.uid()))
            .map_err(|m| format!("{} {shown}: {m}", rule.what))?;
    }
    Ok(file)
}

/// Whether `file` lives on procfs or sysfs (never a log, key or auth file).
pub(crate) fn is_kernel_fs(file: &File) -> bool {
    use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC, SYSFS_MAGIC};
    fstatfs(file).map_or(true, |s| {
        s.filesystem_type() == PROC_SUPER_MAGIC || s.filesystem_type() == SYSFS_MAGIC
    })
}

fn check_meta(meta: &std::fs::Metadata, rule: Rule) -> Result<(), String> {
    if !meta.file_type().is_file() {
        return Err("is not a regular file".into());
    }
    let uid = meta.uid();
    let owner_ok = match rule.owners {
        Owners::RootOrSelf => trusted_owner(uid, rule.lane),
        Owners::Caller => uid == getuid().as_raw(),
    };
    if !owner_ok {
        return Err(format!(
            "is owned by uid {uid}; expected {}",
            match rule.owners {
                Owners::RootOrSelf => "root, the running user or the lane user",
                Owners::Caller => "the calling user",
            }
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & rule.forbidden_mode != 0 {
        return Err(format!(
            "has mode {mode:04o}; bits {:04o} must be clear",
            rule.forbidden_mode
        ));
    }
    if meta.len() > rule.max_size {
        return Err(format!(
            "is {} bytes; at most {} allowed",
            meta.len(),
            rule.max_size
        ));
    }
    Ok(())
}

/// Every folder above `path` must be owned by root, the running user or
/// `owner` (the owner of what `path` names, when that is trusted), and must
/// not be writable by group or others unless it is sticky (like /tmp). A
/// symlinked ancestor must be root's (or the running user's), and the folder
/// it leads to is checked the same way. Else someone else could swap `path`.
pub fn check_ancestors(path: &Path, owner: Option<u32>) -> Result<(), String> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| e.to_string())?
            .join(path)
    };
    let euid = geteuid().as_raw();
    let allowed = |uid: u32| uid == 0 || uid == euid || Some(uid) == owner;
    for dir in abs.ancestors().skip(1) {
        let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if meta.file_type().is_symlink() {
            if meta.uid() != 0 && meta.uid() != euid {
                return Err(format!(
                    "folder {} is a symlink owned by uid {}",
                    dir.display(),
                    meta.uid()
                ));
            }
            let real = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            // The target and its own ancestors, as if the path had named it.
            let target =
                std::fs::metadata(&real).map_err(|e| format!("{}: {e}", real.display()))?;
            check_folder(&real, &target, &allowed)?;
            check_ancestors(&real, owner)?;
            continue;
        }
        check_folder(dir, &meta, &allowed)?;
    }
    Ok(())
}

fn check_folder(
    dir: &Path,
    meta: &std::fs::Metadata,
    allowed: &dyn Fn(u32) -> bool,
) -> Result<(), String> {
    if !allowed(meta.uid()) {
        return Err(format!(
            "folder {} is owned by uid {}",
            dir.display(),
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(format!(
            "folder {} is writable by group or others (mode {mode:04o})",
            dir.display()
        ));
    }
    Ok(())
}

/// Reads a trusted file whole (bounded by the rule's size).
pub fn read_trusted(path: &Path, rule: Rule) -> Result<Vec<u8>, String> {
    let file = open_trusted(path, rule)?;
    let mut buf = Vec::new();
    file.take(rule.max_size + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{} {}: {e}", rule.what, path.display()))?;
    if buf.len() as u64 > rule.max_size {
        return Err(format!("{} {} grew while read", rule.what, path.display()));
    }
    Ok(buf)
}

/// Reads a one-line secret file into a [`crate::secret::Secret`]: trailing
/// newline stripped, printable ASCII only.
pub fn read_secret_file(path: &Path, rule: Rule) -> Result<crate::secret::Secret, String> {
    let bytes = zeroize::Zeroizing::new(read_trusted(path, rule)?);
    parse_secret(&bytes, &format!("{} {}", rule.what, path.display()))
}

/// A one-line secret from a file's bytes (`shown` names the file in errors).
pub fn parse_secret(bytes: &[u8], shown: &str) -> Result<crate::secret::Secret, String> {
    let mut end = bytes.len();
    while end > 0 && (bytes[end - 1] == b'\n' || bytes[end - 1] == b'\r') {
        end -= 1;
    }
    let body = &bytes[..end];
    if body.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    if !body.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(format!("{shown} holds bytes outside printable ASCII"));
    }
    // Checked ASCII above, so this cannot fail.
    let text = String::from_utf8(body.to_vec()).map_err(|_| "not UTF-8".to_string())?;
    Ok(crate::secret::Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, body: &str, mode: u32) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn private_dir() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        d
    }

    #[test]
    fn secret_file_modes() {
        let d = private_dir();
        let ok = write(d.path(), "ok", "s3cr3t\n", 0o600);
        assert_eq!(
            read_secret_file(&ok, Rule::SECRET).unwrap().expose(),
            "s3cr3t"
        );
        let group = write(d.path(), "group", "s3cr3t", 0o640);
        let err = read_secret_file(&group, Rule::SECRET).unwrap_err();
        assert!(err.contains("mode 0640"), "one rule: 0600 or 0400: {err}");
        let ro = write(d.path(), "ro", "s3cr3t", 0o400);
        assert!(read_secret_file(&ro, Rule::SECRET).is_ok());
        let open = write(d.path(), "open", "s3cr3t", 0o644);
        let err = read_secret_file(&open, Rule::SECRET).unwrap_err();
        assert!(err.contains("mode 0644"), "{err}");
        assert!(!err.contains("s3cr3t"));
        let empty = write(d.path(), "empty", "\n", 0o600);
        assert!(read_secret_file(&empty, Rule::SECRET)
            .unwrap_err()
            .contains("empty"));
        let bin = write(d.path(), "bin", "a\u{7}b", 0o600);
        assert!(read_secret_file(&bin, Rule::SECRET).is_err());
    }

    #[test]
    fn symlinks_and_open_parents_are_refused() {
        let d = private_dir();
        let target = write(d.path(), "t", "x", 0o600);
        let link = d.path().join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_trusted(&link, Rule::CONFIG)
            .unwrap_err()
            .contains("symbolic link"));
        let open_dir = d.path().join("open");
        std::fs::create_dir(&open_dir).unwrap();
        std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let f = write(&open_dir, "c", "x", 0o644);
        assert!(open_trusted(&f, Rule::CONFIG)
            .unwrap_err()
            .contains("writable by group"));
        assert!(open_trusted(d.path(), Rule::CONFIG)
            .unwrap_err()
            .contains("regular file"));
    }
}

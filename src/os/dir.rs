//! Folders ops-warden writes into (the audit folder, the state folder), which
//! belong to the lane user while root may also run ops-warden (attended use,
//! `check-config`).
//!
//! Nothing inside such a folder is ever done by path: the folder is opened
//! once (`O_DIRECTORY | O_NOFOLLOW`, after its ancestors were checked), and
//! every file in it is opened, created, renamed or removed relative to that
//! descriptor, with `O_NOFOLLOW`. An opened file must be a regular file with
//! one link, owned by the folder's owner; a file root creates there is handed
//! to the folder's owner with `fchown` on the descriptor (never `chown` on a
//! path, which follows a symlink the lane user may have put in its place).

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, renameat2, OFlag, RenameFlags};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use nix::unistd::{fchown, geteuid, unlinkat, Gid, Uid, UnlinkatFlags};

use super::files::{check_ancestors, trusted_owner};

/// How a folder is opened: never through a final symlink.
const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// How a file in a [`WorkDir`] is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
    Append,
}

/// An opened folder ops-warden writes into.
#[derive(Debug)]
pub struct WorkDir {
    fd: OwnedFd,
    path: PathBuf,
    owner: Uid,
    group: Gid,
}

fn is_file(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG
}

/// A single path component: no `/`, not `.` or `..`, not empty.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(format!("{name:?} is not a plain file name"));
    }
    Ok(())
}

impl WorkDir {
    /// Opens `path` as a folder: its ancestors are root's (or the running
    /// user's) and not writable by others, it is not a symlink, it belongs to
    /// root, the running user or `lane` (the config's lane user), and only
    /// its owner may write.
    pub fn open(path: &Path, lane: Option<u32>) -> Result<WorkDir, String> {
        let shown = path.display();
        check_ancestors(path, None).map_err(|m| format!("folder {shown}: {m}"))?;
        let fd = nix::fcntl::open(path, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
            Errno::ELOOP | Errno::ENOTDIR => format!("{shown} is not a folder (or is a symlink)"),
            e => format!("folder {shown}: {}", e.desc()),
        })?;
        let st = fstat(&fd).map_err(|e| format!("folder {shown}: {}", e.desc()))?;
        if !trusted_owner(st.st_uid, lane) {
            return Err(format!("folder {shown} is owned by uid {}", st.st_uid));
        }
        if st.st_mode & 0o022 != 0 {
            return Err(format!(
                "folder {shown} is writable by group or others (mode {:04o})",
                st.st_mode & 0o7777
            ));
        }
        Ok(WorkDir {
            fd,
            path: path.to_path_buf(),
            owner: Uid::from_raw(st.st_uid),
            group: Gid::from_raw(st.st_gid),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A second handle on the same folder (a duplicated descriptor).
    pub fn try_clone(&self) -> Result<WorkDir, String> {
        Ok(WorkDir {
            fd: self.fd.try_clone().map_err(|e| e.to_string())?,
            path: self.path.clone(),
            owner: self.owner,
            group: self.group,
        })
    }

    /// Reads `name` whole, at most `max` bytes; `Ok(None)` when missing.
    pub fn read_file(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, String> {
        let Some(f) = self.open_file(name, Access::Read, None)? else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(f, max + 1), &mut buf)
            .map_err(|e| format!("{}: {}", self.path.join(name).display(), e.kind()))?;
        if buf.len() as u64 > max {
            return Err(format!(
                "{} is larger than {max} bytes",
                self.path.join(name).display()
            ));
        }
        Ok(Some(buf))
    }

    /// The names in the folder (UTF-8 ones; others are skipped).
    pub fn list(&self) -> Result<Vec<String>, String> {
        let fd = self.fd.try_clone().map_err(|e| e.to_string())?;
        let mut dir = nix::dir::Dir::from_fd(fd).map_err(|e| e.desc().to_string())?;
        Ok(dir
            .iter()
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().ok().map(String::from))
            .filter(|n| n != "." && n != "..")
            .collect())
    }

    /// The folder's owner (who files made here must belong to).
    pub fn owner(&self) -> (Uid, Gid) {
        (self.owner, self.group)
    }

    /// Opens `name`; with `create`, makes it (mode `mode`) when missing.
    /// `Ok(None)` when it does not exist and `create` is false.
    pub fn open_file(
        &self,
        name: &str,
        access: Access,
        create: Option<u32>,
    ) -> Result<Option<File>, String> {
        check_name(name)?;
        let mut flags = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
        flags |= match access {
            Access::Read => OFlag::O_RDONLY,
            Access::ReadWrite => OFlag::O_RDWR,
            Access::Append => OFlag::O_RDWR | OFlag::O_APPEND,
        };
        let mode = create.unwrap_or(0);
        // Root making a file in a folder that is not root's: the file is
        // born under a name of its own, handed over, then moved into place,
        // so no other run ever sees it under `name` owned by root.
        if let (Some(want), true) = (create, self.hands_over()) {
            if let Some(file) = self.create_handed_over(name, flags, want)? {
                return Ok(Some(file));
            }
        }
        // Create exclusively first, so a file is handed over (fchown) only
        // when this very call made it; an existing one must already be the
        // folder owner's.
        let mut created = false;
        let mut opened = Err(Errno::ENOENT);
        if create.is_some() && !self.hands_over() {
            opened = openat(
                &self.fd,
                name,
                flags | OFlag::O_CREAT | OFlag::O_EXCL,
                Mode::from_bits_truncate(mode),
            );
            created = opened.is_ok();
        }
        if !created {
            opened = openat(&self.fd, name, flags, Mode::empty());
        }
        let fd = match opened {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create.is_none() => return Ok(None),
            Err(e) => return Err(self.open_error(name, e)),
        };
        let file = self.adopt(name, fd, created)?;
        if let Some(want) = create {
            self.set_mode(name, &file, want)?;
        }
        Ok(Some(file))
    }

    /// Whether files this process makes here must be handed over (root in
    /// a folder that belongs to someone else).
    fn hands_over(&self) -> bool {
        geteuid().is_root() && !self.owner.is_root()
    }

    /// Makes `name` owned by the folder's owner from the moment it has that
    /// name: created under a private temporary name (`O_EXCL`), handed over
    /// and given its mode on the descriptor, then renamed into place without
    /// replacing anything. `Ok(None)` when `name` exists already (another
    /// run made it first): the caller opens that one.
    fn create_handed_over(
        &self,
        name: &str,
        flags: OFlag,
        mode: u32,
    ) -> Result<Option<File>, String> {
        let tmp = format!(".{name}.{}.new", std::process::id());
        check_name(&tmp)?;
        // A leftover of a killed run that had our pid: never anyone's file.
        let _ = unlinkat(&self.fd, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        let fd = openat(
            &self.fd,
            tmp.as_str(),
            flags | OFlag::O_CREAT | OFlag::O_EXCL,
            Mode::from_bits_truncate(mode),
        )
        .map_err(|e| self.open_error(&tmp, e))?;
        let shown = self.path.join(name);
        let placed = fchown(&fd, Some(self.owner), Some(self.group))
            .map_err(|e| format!("{}: fchown: {}", shown.display(), e.desc()))
            .and_then(|()| {
                nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode))
                    .map_err(|e| format!("{}: fchmod: {}", shown.display(), e.desc()))
            })
            .and_then(|()| {
                match renameat2(
                    &self.fd,
                    tmp.as_str(),
                    &self.fd,
                    name,
                    RenameFlags::RENAME_NOREPLACE,
                ) {
                    Ok(()) => Ok(true),
                    Err(Errno::EEXIST) => Ok(false),
                    Err(e) => Err(format!("{}: {}", shown.display(), e.desc())),
                }
            });
        match placed {
            Ok(true) => self.adopt(name, fd, false).map(Some),
            Ok(false) => {
                let _ = unlinkat(&self.fd, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
                Ok(None)
            }
            Err(e) => {
                let _ = unlinkat(&self.fd, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
                Err(e)
            }
        }
    }

    /// Creates `name` exclusively (`O_EXCL`): it must not exist yet.
    pub fn create_new(&self, name: &str, mode: u32) -> Result<File, String> {
        self.claim(name, mode)?
            .ok_or_else(|| self.open_error(name, Errno::EEXIST))
    }

    /// Creates `name` exclusively (`O_EXCL`); `Ok(None)` when it exists
    /// already (a claim another run made first).
    pub fn claim(&self, name: &str, mode: u32) -> Result<Option<File>, String> {
        check_name(name)?;
        let flags = OFlag::O_WRONLY
            | OFlag::O_CREAT
            | OFlag::O_EXCL
            | OFlag::O_NOFOLLOW
            | OFlag::O_CLOEXEC
            | OFlag::O_NOCTTY;
        let fd = match openat(&self.fd, name, flags, Mode::from_bits_truncate(mode)) {
            Ok(fd) => fd,
            Err(Errno::EEXIST) => return Ok(None),
            Err(e) => return Err(self.open_error(name, e)),
        };
        let file = self.adopt(name, fd, true)?;
        self.set_mode(name, &file, mode)?;
        Ok(Some(file))
    }

    /// Gives a file of ours exactly `mode` (the process umask is 077, so a
    /// file meant for the auditors' group, 0640, is widened on the descriptor).
    fn set_mode(&self, name: &str, file: &File, mode: u32) -> Result<(), String> {
        let st = fstat(file.as_fd()).map_err(|e| e.desc().to_string())?;
        if st.st_mode & 0o7777 != mode && mode & 0o022 == 0 {
            nix::sys::stat::fchmod(file.as_fd(), Mode::from_bits_truncate(mode))
                .map_err(|e| format!("{}: fchmod: {}", self.path.join(name).display(), e.desc()))?;
        }
        Ok(())
    }

    fn open_error(&self, name: &str, e: Errno) -> String {
        match e {
            Errno::ELOOP => format!("{} is a symbolic link", self.path.join(name).display()),
            e => format!("{}: {}", self.path.join(name).display(), e.desc()),
        }
    }

    /// Checks an opened descriptor and hands a file root just `created` to
    /// the folder's owner, by descriptor.
    fn adopt(&self, name: &str, fd: OwnedFd, created: bool) -> Result<File, String> {
        let shown = self.path.join(name);
        let st = fstat(&fd).map_err(|e| format!("{}: {}", shown.display(), e.desc()))?;
        if !is_file(&st) {
            return Err(format!("{} is not a regular file", shown.display()));
        }
        if st.st_nlink != 1 {
            return Err(format!(
                "{} has {} links (a hard link to another file?)",
                shown.display(),
                st.st_nlink
            ));
        }
        self.hand_over(&shown, &fd, &st, created)?;
        if st.st_mode & 0o022 != 0 {
            return Err(format!(
                "{} is writable by group or others (mode {:04o})",
                shown.display(),
                st.st_mode & 0o7777
            ));
        }
        Ok(File::from(fd))
    }

    /// Replaces `name` with `bytes` atomically: a new temp file (`O_EXCL`,
    /// mode `mode`), synced, renamed over `name`.
    pub fn replace_file(&self, name: &str, bytes: &[u8], mode: u32) -> Result<(), String> {
        use std::io::Write;
        let tmp = format!("{name}.tmp");
        self.remove(&tmp)?;
        let mut f = self.create_new(&tmp, mode)?;
        f.write_all(bytes)
            .and_then(|_| f.sync_data())
            .map_err(|e| format!("{}: {e}", self.path.join(&tmp).display()))?;
        self.rename(&tmp, name)
    }

    /// An entry must belong to the folder's owner; only one that root just
    /// `created` (mkdirat, `O_EXCL`) is handed over, by descriptor.
    fn hand_over(
        &self,
        shown: &Path,
        fd: &OwnedFd,
        st: &FileStat,
        created: bool,
    ) -> Result<(), String> {
        if st.st_uid == self.owner.as_raw() {
            return Ok(());
        }
        if !(created && geteuid().is_root() && st.st_uid == 0) {
            return Err(format!(
                "{} is owned by uid {}, not the folder's owner (uid {})",
                shown.display(),
                st.st_uid,
                self.owner
            ));
        }
        fchown(fd, Some(self.owner), Some(self.group))
            .map_err(|e| format!("{}: fchown: {}", shown.display(), e.desc()))
    }

    /// Whether `name` still is the file `file` (same device and inode, not a symlink).
    pub fn still_names(&self, name: &str, file: &File) -> Result<bool, String> {
        check_name(name)?;
        let open = fstat(file.as_fd()).map_err(|e| e.desc().to_string())?;
        match fstatat(&self.fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(now) => Ok(now.st_dev == open.st_dev && now.st_ino == open.st_ino),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(format!("{}: {}", self.path.join(name).display(), e.desc())),
        }
    }

    /// Renames `from` to `to` inside the folder (replacing `to`).
    pub fn rename(&self, from: &str, to: &str) -> Result<(), String> {
        check_name(from)?;
        check_name(to)?;
        renameat(&self.fd, from, &self.fd, to)
            .map_err(|e| format!("rename {from} to {to}: {}", e.desc()))
    }

    /// Removes the file `name`; a missing file is not an error.
    pub fn remove(&self, name: &str) -> Result<(), String> {
        check_name(name)?;
        match unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(format!("remove {name}: {}", e.desc())),
        }
    }

    /// Makes a private (0700) sub-folder owned like this one and opens it.
    pub fn make_private_dir(&self, name: &str) -> Result<WorkDir, String> {
        check_name(name)?;
        let shown = self.path.join(name);
        nix::sys::stat::mkdirat(&self.fd, name, Mode::from_bits_truncate(0o700))
            .map_err(|e| format!("{}: {}", shown.display(), e.desc()))?;
        let fd = openat(&self.fd, name, DIR_FLAGS, Mode::empty())
            .map_err(|e| self.open_error(name, e))?;
        let st = fstat(&fd).map_err(|e| format!("{}: {}", shown.display(), e.desc()))?;
        self.hand_over(&shown, &fd, &st, true)?;
        Ok(WorkDir {
            fd,
            path: shown,
            owner: self.owner,
            group: self.group,
        })
    }

    /// Removes the sub-folder `name` and everything in it, each entry
    /// relative to its folder's descriptor (`O_NOFOLLOW`: a symlink is
    /// removed, never followed). Bounded in depth; a missing folder is not
    /// an error. The first failure is returned after removing all it can.
    pub fn remove_tree(&self, name: &str) -> Result<(), String> {
        check_name(name)?;
        let name = std::ffi::CString::new(name).map_err(|_| format!("{name:?} has a NUL"))?;
        remove_tree_at(&self.fd, &self.path, &name, 0)
    }
}

/// Deepest folder `remove_tree` descends into.
const MAX_DEPTH: usize = 32;

fn remove_tree_at(
    parent: &OwnedFd,
    at: &Path,
    name: &std::ffi::CStr,
    depth: usize,
) -> Result<(), String> {
    let shown = at.join(String::from_utf8_lossy(name.to_bytes()).as_ref());
    if depth > MAX_DEPTH {
        return Err(format!(
            "{}: deeper than {MAX_DEPTH} folders",
            shown.display()
        ));
    }
    let fd = match openat(parent, name, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        // A folder its owner (the helper, as this very user) made unreadable.
        Err(Errno::EACCES) if !geteuid().is_root() => {
            // Never through a symlink: the name was a folder a moment ago.
            nix::sys::stat::fchmodat(
                parent,
                name,
                Mode::from_bits_truncate(0o700),
                nix::sys::stat::FchmodatFlags::NoFollowSymlink,
            )
            .map_err(|e| format!("{}: {}", shown.display(), e.desc()))?;
            openat(parent, name, DIR_FLAGS, Mode::empty())
                .map_err(|e| format!("{}: {}", shown.display(), e.desc()))?
        }
        Err(e) => return Err(format!("{}: {}", shown.display(), e.desc())),
    };
    let keep = fd
        .try_clone()
        .map_err(|e| format!("{}: {e}", shown.display()))?;
    // A folder its owner left without write or search bit (0500, 0600):
    // made removable again, on the descriptor (root needs no bit).
    if !geteuid().is_root() {
        let _ = nix::sys::stat::fchmod(&keep, Mode::from_bits_truncate(0o700));
    }
    let mut dir = nix::dir::Dir::from_fd(fd).map_err(|e| e.desc().to_string())?;
    let names: Vec<std::ffi::CString> = dir
        .iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.to_bytes() != b"." && n.to_bytes() != b"..")
        .collect();
    drop(dir);
    let mut first_error = None;
    for n in &names {
        let r = match unlinkat(&keep, n.as_c_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(Errno::EISDIR) | Err(Errno::EPERM) => remove_tree_at(&keep, &shown, n, depth + 1),
            Err(e) => Err(format!(
                "{}: {}",
                shown
                    .join(String::from_utf8_lossy(n.to_bytes()).as_ref())
                    .display(),
                e.desc()
            )),
        };
        if let Err(e) = r {
            first_error.get_or_insert(e);
        }
    }
    let r = match unlinkat(parent, name, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(format!("{}: {}", shown.display(), e.desc())),
    };
    match first_error {
        Some(e) => Err(e),
        None => r,
    }
}

#[cfg(test)]
#[path = "dir_tests.rs"]
mod tests;

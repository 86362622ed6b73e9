//! `WorkDir`: descriptor-relative file work in a folder another user owns.

use super::*;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;

fn private_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

#[test]
fn files_are_opened_relative_to_the_folder_and_never_through_links() {
    let d = private_dir();
    let w = WorkDir::open(d.path(), None).unwrap();
    let mut f = w
        .open_file("log", Access::Append, Some(0o640))
        .unwrap()
        .unwrap();
    f.write_all(b"x\n").unwrap();
    assert!(w.still_names("log", &f).unwrap());
    assert!(w
        .open_file("missing", Access::Read, None)
        .unwrap()
        .is_none());

    let outside = d.path().join("outside");
    std::fs::write(&outside, "keep").unwrap();
    std::os::unix::fs::symlink(&outside, d.path().join("link")).unwrap();
    let err = w
        .open_file("link", Access::ReadWrite, Some(0o600))
        .unwrap_err();
    assert!(err.contains("symbolic link"), "{err}");

    std::fs::hard_link(&outside, d.path().join("hard")).unwrap();
    let err = w.open_file("hard", Access::Read, None).unwrap_err();
    assert!(err.contains("2 links"), "{err}");

    // A swapped name is noticed.
    w.rename("log", "log.old").unwrap();
    assert!(!w.still_names("log", &f).unwrap());
    assert!(w.open_file("../x", Access::Read, None).is_err());
    let mut s = String::new();
    File::open(&outside)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "keep");
}

#[test]
fn create_new_is_exclusive_and_private_dirs_are_removed() {
    let d = private_dir();
    let w = WorkDir::open(d.path(), None).unwrap();
    w.create_new("t", 0o600).unwrap();
    assert!(w.create_new("t", 0o600).is_err());
    let p = w.make_private_dir("helper-1").unwrap();
    p.create_new("secret", 0o600).unwrap();
    w.remove_tree("helper-1").unwrap();
    assert!(!d.path().join("helper-1").exists());
    let link = d.path().join("dirlink");
    std::os::unix::fs::symlink(d.path(), &link).unwrap();
    assert!(WorkDir::open(&link, None).unwrap_err().contains("symlink"));
}

/// N6: a helper that leaves sub-folders (its tools' temp folders) in its
/// private folder must not keep the operator key on disk.
#[test]
fn a_private_tree_goes_whole_whatever_the_helper_left() {
    let d = private_dir();
    let w = WorkDir::open(d.path(), None).unwrap();
    let p = w.make_private_dir("helper-2").unwrap();
    for sub in ["tmp.a", "tmp.b/deeper/still"] {
        std::fs::create_dir_all(p.path().join(sub)).unwrap();
    }
    p.create_new("operator.key", 0o600).unwrap();
    std::fs::write(p.path().join("tmp.b/deeper/f"), "x").unwrap();
    std::os::unix::fs::symlink("/etc", p.path().join("tmp.a/etc")).unwrap();
    std::fs::write(p.path().join("tmp.a/f"), "x").unwrap();
    for (dir, mode) in [("tmp.b/deeper/still", 0o000), ("tmp.a", 0o500)] {
        std::fs::set_permissions(p.path().join(dir), std::fs::Permissions::from_mode(mode))
            .unwrap();
    }
    w.remove_tree("helper-2").unwrap();
    assert!(!d.path().join("helper-2").exists());
    assert!(
        std::path::Path::new("/etc/passwd").exists(),
        "a link is never followed"
    );
    // Too deep to be a helper's doing: an error, after removing what it can.
    let p = w.make_private_dir("helper-3").unwrap();
    let mut deep = p.path().to_path_buf();
    for _ in 0..40 {
        deep.push("d");
    }
    std::fs::create_dir_all(&deep).unwrap();
    assert!(w.remove_tree("helper-3").unwrap_err().contains("deeper"));
    assert_eq!(w.remove_tree("missing"), Ok(()));
}

#[test]
fn open_folders_are_refused() {
    let d = private_dir();
    let open = d.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(WorkDir::open(&open, None).unwrap_err().contains("writable"));
    let inner = open.join("inner");
    std::fs::create_dir(&inner).unwrap();
    std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(WorkDir::open(&inner, None)
        .unwrap_err()
        .contains("writable"));
}

//! Generates the package's man pages (clap_mangen) and shell completions
//! (clap_complete) from the command line's own definition, so they never
//! drift from it:  cargo run --example gen_assets -- OUT_DIR
//! (host-config/package/build-deb.sh runs it before cargo-deb).

use clap::CommandFactory;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/assets".into()),
    );
    let man = out.join("man");
    let comp = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&comp)?;
    let cmd = ops_warden::cli::Cli::command();
    // One page for the command and one per subcommand (ops-warden-audit-verify.1, ...).
    fn pages(cmd: &clap::Command, prefix: &str, dir: &std::path::Path) -> std::io::Result<()> {
        let name = if prefix.is_empty() {
            cmd.get_name().to_string()
        } else {
            format!("{prefix}-{}", cmd.get_name())
        };
        // A one-shot generator: leaking the few page names is fine.
        let page = cmd.clone().name(&*Box::leak(name.clone().into_boxed_str()));
        let mut buf = Vec::new();
        clap_mangen::Man::new(page).render(&mut buf)?;
        std::fs::write(dir.join(format!("{name}.1")), buf)?;
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            pages(sub, &name, dir)?;
        }
        Ok(())
    }
    pages(&cmd, "", &man)?;
    for (shell, file) in [
        (clap_complete::Shell::Bash, "ops-warden"),
        (clap_complete::Shell::Zsh, "_ops-warden"),
        (clap_complete::Shell::Fish, "ops-warden.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "ops-warden", &mut buf);
        std::fs::write(comp.join(file), buf)?;
    }
    Ok(())
}

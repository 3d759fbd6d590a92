//! Every shell script under scripts/ (the guest's /init, scripts/guest/init.sh,
//! included), and .ci/run, passes shellcheck at every severity. Runs on the
//! host: no guest.
//!
//! A missing shellcheck fails the test with a message that says to run
//! scripts/setup.sh, which installs it.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `*.sh` below `dir`, sorted, so the report reads the same on every run.
fn shell_scripts(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "sh") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Runs shellcheck on `files` from `cwd` and returns its report when it finds
/// anything. `--norc`: a ~/.shellcheckrc must not change what passes here.
fn shellcheck_findings(cwd: &Path, files: &[PathBuf]) -> Option<String> {
    let out = match Command::new("shellcheck").args(["--norc", "--color=never"]).args(files).current_dir(cwd).output() {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("shellcheck not found: run scripts/setup.sh (it installs the shellcheck package)")
        }
        Err(e) => panic!("cannot run shellcheck: {e}"),
    };
    if out.status.success() {
        return None;
    }
    let mut report = String::from_utf8_lossy(&out.stdout).into_owned();
    report.push_str(&String::from_utf8_lossy(&out.stderr));
    if report.trim().is_empty() {
        report = format!("shellcheck failed ({}) without saying why", out.status);
    }
    Some(report)
}

#[test]
fn every_script_passes_shellcheck() {
    let root = repo_root();
    let mut scripts: Vec<PathBuf> =
        shell_scripts(&root.join("scripts")).iter().map(|p| p.strip_prefix(&root).unwrap().to_path_buf()).collect();
    // The CI entry point is a bash script without the .sh suffix.
    scripts.push(PathBuf::from(".ci/run"));
    // The guest's /init is the script most easily forgotten: it never runs on the host.
    for must in ["scripts/testbed.sh", "scripts/setup.sh", "scripts/guest/init.sh"] {
        assert!(scripts.iter().any(|p| p == Path::new(must)), "{must} not among the scripts found: {scripts:?}");
    }
    if let Some(report) = shellcheck_findings(&root, &scripts) {
        panic!("shellcheck found problems in scripts/:\n{report}");
    }
}

/// The check above can fail: a script with an unquoted expansion is reported.
#[test]
fn shellcheck_reports_a_flawed_script() {
    let dir = tempfile::tempdir().expect("temp dir");
    let flawed = dir.path().join("flawed.sh");
    std::fs::write(&flawed, "#!/bin/sh\nrm -rf $1/tmp\n").expect("write flawed.sh");
    let report = shellcheck_findings(dir.path(), &[flawed]).expect("shellcheck should flag an unquoted $1");
    assert!(report.contains("SC2086"), "expected SC2086 (unquoted expansion) in:\n{report}");
}

/// The benchmark's scripts refuse a wrong option or part at once, with a
/// message that names it, before they set anything up or boot a guest; and
/// each says what it does with --help.
#[test]
fn benchmark_scripts_refuse_bad_options_and_explain_themselves() {
    let root = repo_root();
    let run = |script: &str, args: &[&str]| {
        let out = Command::new("bash").arg(root.join("scripts").join(script)).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    for script in ["bench.sh", "bench-udp.sh", "bench-tcp.sh", "bench-curves.sh", "bench-profile.sh"] {
        let (code, text) = run(script, &["--bogus"]);
        assert_eq!(code, Some(2), "{script} --bogus: {text}");
        assert!(text.contains("unknown option --bogus"), "{script}: {text}");
        let (code, text) = run(script, &["--help"]);
        assert_eq!(code, Some(0), "{script} --help: {text}");
        assert!(text.contains(&format!("scripts/{script}")), "{script} --help shows its usage: {text}");
    }
    let (code, text) = run("bench.sh", &["--only", "udp,bogus"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("unknown part 'bogus'"), "{text}");
}

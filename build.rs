//! Link settings of the one static binary (`cargo dist`, README "Build and install one static
//! binary"); nothing else is built here.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let static_glibc = var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|f| f == "crt-static");
    if static_glibc && var("HOST") == var("TARGET") && host_glibc_at_least(2, 36) {
        // The static-pie's relative relocations in the packed RELR format (~10 kB instead of
        // ~0.9 MB of `.rela.dyn`): about 0.9 MB less binary, no code changed
        // (docs/PERFORMANCE.md, "Binary size"). glibc's static-pie start-up applies them from
        // 2.36 on, and the glibc linked in is this machine's: on an older one (or a cross
        // build) the relocations stay as they were. Only the static build: a dynamic binary
        // would need a loader that knows RELR.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// The glibc this build script runs on (the one a native static build links in).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn host_glibc_at_least(major: u32, minor: u32) -> bool {
    unsafe extern "C" {
        fn gnu_get_libc_version() -> *const std::ffi::c_char;
    }
    // SAFETY: glibc returns a pointer to a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
    let mut parts = version
        .to_str()
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn host_glibc_at_least(_major: u32, _minor: u32) -> bool {
    false
}

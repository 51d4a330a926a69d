// Tells rustc where libsurgeon.so is; nothing is generated here (src/bindings.rs is checked
// in). Search order: $SURGEON_LIB_DIR, then the in-tree default build directory
// <repo>/build/lib (when this crate is built inside the source tree), then pkg-config's
// libdir for `surgeon` (an installed library: PKG_CONFIG_PATH=<prefix>/lib/pkgconfig).
//
// A build script can only link its own crate's programs with extra flags, so the rpath of
// the final program is the user's: `-C link-arg=-Wl,-rpath,<libdir>` in RUSTFLAGS or
// .cargo/config.toml, or LD_LIBRARY_PATH=<libdir> at run time (bindings/rust/README.md).
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn pkg_config_libdir() -> Option<PathBuf> {
    let pkg_config = env::var_os("PKG_CONFIG").unwrap_or_else(|| "pkg-config".into());
    let out = Command::new(pkg_config).args(["--variable=libdir", "surgeon"]).output().ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let dir = dir.trim();
    if out.status.success() && !dir.is_empty() {
        Some(PathBuf::from(dir))
    } else {
        None
    }
}

fn in_tree_build_dir() -> Option<PathBuf> {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR")?);
    let dir = manifest.join("../../../build/lib");
    if manifest.join("../../../include/surgeon/surgeon.h").exists() && dir.join("libsurgeon.so").exists() {
        Some(dir)
    } else {
        None
    }
}

fn main() {
    for var in ["SURGEON_LIB_DIR", "PKG_CONFIG", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "PKG_CONFIG_SYSROOT_DIR"] {
        println!("cargo:rerun-if-env-changed={}", var);
    }
    println!("cargo:rerun-if-changed=build.rs");
    let dir = match env::var_os("SURGEON_LIB_DIR") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => in_tree_build_dir().or_else(pkg_config_libdir),
    };
    match dir {
        Some(dir) => {
            let shown = dir.canonicalize().unwrap_or(dir);
            println!("cargo:rustc-link-search=native={}", shown.display());
            // Exported to dependents' build scripts as DEP_SURGEON_LIB_DIR (e.g. for rpath).
            println!("cargo:lib_dir={}", shown.display());
            if !shown.join("libsurgeon.so").exists() {
                println!("cargo:warning=no libsurgeon.so in {}", shown.display());
            }
        }
        None => println!(
            "cargo:warning=libsurgeon not found: set SURGEON_LIB_DIR to the directory of \
             libsurgeon.so, or PKG_CONFIG_PATH to the folder of an installed surgeon.pc \
             (<prefix>/lib/pkgconfig); trying the system linker path"
        ),
    }
    println!("cargo:rustc-link-lib=dylib=surgeon");
}

// Tells rustc where libsurgeon.so is; nothing is generated here (src/bindings.rs is checked
// in). Search order: $SURGEON_LIB_DIR, then the in-tree default build directory
// <repo>/build/lib, then pkg-config's libdir for `surgeon` (an installed library).
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn pkg_config_libdir() -> Option<PathBuf> {
    let out = Command::new("pkg-config")
        .args(["--variable=libdir", "surgeon"])
        .output()
        .ok()?;
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
    if dir.join("libsurgeon.so").exists() {
        Some(dir)
    } else {
        None
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=SURGEON_LIB_DIR");
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
             libsurgeon.so (e.g. build/lib); trying the system linker path"
        ),
    }
    println!("cargo:rustc-link-lib=dylib=surgeon");
}

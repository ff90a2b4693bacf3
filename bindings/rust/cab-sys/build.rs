// Tells rustc where libcab.so is:
//   1. $CAB_LIB_DIR, a folder holding libcab.so (a build tree's lib/), if set;
//   2. else pkg-config's `cab` package (the installed libcab-dev), when pkg-config knows it;
//   3. else the linker's default paths (/usr/lib/<multiarch> for the Debian package).
// Running a program linked against a build tree needs LD_LIBRARY_PATH=$CAB_LIB_DIR (Cargo only
// adds search paths inside its target folder); the installed libcab.so.0 is found as is.
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CAB_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    match env::var("CAB_LIB_DIR") {
        Ok(dir) if !dir.is_empty() => {
            println!("cargo:rustc-link-search=native={}", dir);
            println!("cargo:lib_dir={}", dir);
        }
        _ => {
            for dir in pkg_config_lib_dirs() {
                println!("cargo:rustc-link-search=native={}", dir);
                println!("cargo:lib_dir={}", dir);
            }
        }
    }
    println!("cargo:rustc-link-lib=dylib=cab");
}

// The -L folders of `pkg-config --libs cab`, or none when pkg-config or the package is missing.
fn pkg_config_lib_dirs() -> Vec<String> {
    let output = match Command::new("pkg-config")
        .args(["--libs-only-L", "cab"])
        .output()
    {
        Ok(output) if output.status.success() => output,
        _ => return Vec::new(),
    };
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter_map(|flag| flag.strip_prefix("-L").map(str::to_owned))
        .collect()
}

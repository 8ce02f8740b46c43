//! Gives the trainer (and its tests) an rpath to the libtorch it was linked against,
//! so it runs without LD_LIBRARY_PATH.
fn main() {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        // the GPU script's test runs the trainer against this same libtorch
        println!("cargo:rustc-env=FTRAIN_LIBTORCH_LIB={lib}");
    }
}

//! Embeds the dashboard's scripts and styles: every `*.js` and `*.css`
//! directly in `dashboard/` (not `dashboard/dev/`), so that the dashboard
//! can add or rename a file without a change to the server.

use std::fmt::Write;
use std::path::Path;

fn main() {
    // Read when the script runs, not baked in when it compiles: cargo may
    // reuse a compiled build script for a checkout at another path.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir).join("dashboard");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("service/dashboard exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut out =
        String::from("/// `(file name, content type, contents)` of every dashboard asset.\n");
    out.push_str("const ASSETS: &[(&str, &str, &str)] = &[\n");
    for path in files {
        let ctype = match path.extension().and_then(|e| e.to_str()) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => continue,
        };
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_str().expect("UTF-8 file name");
        writeln!(
            out,
            "    ({name:?}, {ctype:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("assets.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

fn main() {
    // Invoked through a symlink named mkfs.erofs: be mkfs.erofs.
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let name = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "mkfs.erofs" {
        let args: Vec<String> = std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        std::process::exit(layerseal_cli::mkfs_erofs::run("mkfs.erofs", &args));
    }
    std::process::exit(layerseal_cli::native::main());
}

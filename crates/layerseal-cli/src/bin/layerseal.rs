fn main() {
    std::process::exit(layerseal_cli::native::main());
}

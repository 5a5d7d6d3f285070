//! `layerseal windows plan`: the block-CIM writer's call sequence for a
//! Windows layer tar, as JSON, with the inputs that make upstream's
//! digests unreliable.

use std::path::PathBuf;

use crate::shared::exit;

#[derive(clap::Args)]
pub(crate) struct WindowsArgs {
    #[command(subcommand)]
    command: WindowsCommand,
}

#[derive(clap::Subcommand)]
enum WindowsCommand {
    /// Print (JSON) the calls hcsshim's block-CIM layer writer makes for a
    /// Windows layer tar (plain, gzip or zstd): files in tar order, hive
    /// files and hard links at close, then the base layer's Hives/config
    /// links/layout or the hive merges against the immediate parent. Lints
    /// name inputs that make upstream nondeterministic. The digests
    /// themselves need cimwriter.dll (Windows).
    Plan {
        layer: PathBuf,
        /// Layer directories below this one, immediate parent first (none:
        /// a base layer). Hive merges read the first one's Hives\X_BASE.
        #[arg(long = "parent", value_name = "DIR")]
        parents: Vec<String>,
    },
}

pub(crate) fn run(args: WindowsArgs) -> Result<i32, String> {
    match args.command {
        WindowsCommand::Plan { layer, parents } => {
            let file =
                std::fs::File::open(&layer).map_err(|e| format!("{}: {e}", layer.display()))?;
            let (_, reader) = layerseal::compress::open(std::io::BufReader::new(file))
                .map_err(|e| format!("{}: {e}", layer.display()))?;
            let read = layerseal::windows::layer::read_layer(reader)
                .map_err(|e| format!("{}: {e}", layer.display()))?;
            let plan = layerseal::windows::plan::plan(&read, &parents);
            for l in &plan.lints {
                eprintln!("layerseal: lint: {l}");
            }
            println!("{}", serde_json::to_string_pretty(&plan).expect("json"));
            Ok(exit::OK)
        }
    }
}

use clap::Parser;
use kubectl_ceph_image::demo::{self, DemoArgs};

#[derive(Parser)]
#[command(name = "kubectl ceph-image", bin_name = "kubectl ceph-image")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    Demo(DemoArgs),
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Demo(a) => {
            if let Err(e) = demo::serve(&a) {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
}

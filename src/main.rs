use clap::Parser;
use kubectl_ceph_image::{app, cli::Cli, output::Styles};

fn main() {
    let cli = Cli::parse();
    let no_colour = matches!(cli.global.color, kubectl_ceph_image::cli::ColorChoice::Never)
        || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(async {
        match app::run(cli).await {
            Ok(code) => code,
            Err(e) => {
                let styles = if no_colour || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    Styles::plain()
                } else {
                    Styles::colored()
                };
                app::report(&e, &styles);
                e.exit_code()
            }
        }
    });
    rt.shutdown_background();
    std::process::exit(code);
}

use clap::Parser;
use kubectl_ceph_image::{app, cli::Cli, output::Styles};

fn main() {
    // SAFETY: first thing in main: no other thread exists yet. The proxy variables become the
    // plugin's to apply by kubectl's rules (src/cluster/proxy.rs), not kube's by its own.
    unsafe { kubectl_ceph_image::cluster::proxy::ProxyEnv::capture() };
    let args: Vec<String> = std::env::args().collect();
    // kubectl's plugin completion runs `kubectl_complete-ceph_image WORD... PARTIAL`.
    let invoked_as = std::path::Path::new(args.first().map(String::as_str).unwrap_or(""))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let completion_words = if invoked_as.starts_with(kubectl_ceph_image::commands::complete::EXEC_NAME) {
        Some(args[1..].to_vec())
    } else if args.get(1).map(String::as_str) == Some("__complete") {
        Some(args[2..].to_vec())
    } else {
        None
    };
    if let Some(words) = completion_words {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let code = rt.block_on(app::complete(words));
        rt.shutdown_background();
        std::process::exit(code);
    }
    let cli = Cli::parse();
    // As --color says: always colours even through a pipe; auto needs a terminal, no
    // NO_COLOR and a TERM that is not dumb.
    let colour_errors = match cli.global.color {
        kubectl_ceph_image::cli::ColorChoice::Always => true,
        kubectl_ceph_image::cli::ColorChoice::Never => false,
        kubectl_ceph_image::cli::ColorChoice::Auto => {
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            kubectl_ceph_image::output::note(&format!("error: cannot start the async runtime: {e}"));
            std::process::exit(1);
        }
    };
    let code = rt.block_on(async {
        match app::run(cli).await {
            Ok(code) => code,
            Err(e) => {
                let styles = if colour_errors { Styles::colored() } else { Styles::plain() };
                kubectl_ceph_image::output::allow_colour(false, colour_errors);
                // Ctrl-C in a prompt: leave the terminal sane.
                if matches!(e, kubectl_ceph_image::error::Error::Interrupted) {
                    kubectl_ceph_image::output::show_cursor();
                }
                kubectl_ceph_image::output::note(&kubectl_ceph_image::render::report(&e, &styles));
                e.exit_code()
            }
        }
    });
    rt.shutdown_background();
    std::process::exit(code);
}

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = capcom::cli::Cli::parse();
    std::process::ExitCode::from(capcom::cli::run(cli))
}

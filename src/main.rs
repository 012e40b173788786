use clap::Parser;

fn main() -> std::process::ExitCode {
    // the speech decoder's first CPU sample: threads are judged from here on
    capcom::transcribe::cpu::mark_process_start();
    let cli = capcom::cli::Cli::parse();
    std::process::ExitCode::from(capcom::cli::run(cli))
}

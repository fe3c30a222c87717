//! The `tracewell` command: stability reports and checks over recorded spans (NDJSON files, as
//! the file and stdout exporters write them, standard input, or a Redis list or stream).
//!
//! ```text
//! tracewell report spans.ndjson                       # aligned text table, worst first
//! tracewell report spans.ndjson --format html -o report.html
//! tracewell report - --format json < spans.ndjson
//! tracewell check spans.ndjson --min-score 70         # exit 1 when a function scores below 70
//! tracewell report redis://127.0.0.1:6379/tracewell:spans
//! tracewell tail spans.ndjson                         # print spans as they are appended
//! ```
//!
//! Reading is streaming: memory depends on the number of functions, not of spans. A bad line is
//! reported on stderr with its line number and skipped, unless `--strict`.
//!
//! Modules, each using only the ones below it:
//!
//! ```text
//! main.rs      the commands and their arguments; scoring (tracewell::score::Scorer)
//!   read.rs    what report, check and tail do with lines: pick the source, hand good spans on,
//!              report bad lines
//!     source/  where lines come from: file.rs (a file or stdin, followed with tail),
//!              parallel.rs (decoding a file on worker threads), redis.rs (a list or stream)
//! ```
//!
//! Lines are decoded by tracewell itself ([`tracewell::score::SampleLine`]), so the command reads
//! exactly what the runtime's reader reads. A new input source goes in `source/`; a new report
//! format in the runtime's `score/report/`.

mod read;
mod source;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracewell::score::Scorer;

/// Stability reports over spans recorded by tracewell.
#[derive(Parser, Debug)]
#[command(name = "tracewell", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Scores every function and branch and prints the report.
    Report {
        #[command(flatten)]
        input: InputArgs,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Write the report to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Exits with status 1 when any function or branch scores below --min-score.
    Check {
        #[command(flatten)]
        input: InputArgs,
        /// The lowest acceptable score, 0-100.
        #[arg(long, value_parser = parse_score)]
        min_score: f64,
    },
    /// Prints spans as they are appended to a file or pushed to Redis (like `tail -f`; stop with
    /// Ctrl-C).
    Tail {
        /// The NDJSON file to follow, or `redis://HOST:PORT/KEY`.
        file: String,
        /// Only spans whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Print what the file holds now and exit instead of following it.
        #[arg(long)]
        once: bool,
        /// Stop following after this many seconds.
        #[arg(long, value_parser = parse_seconds)]
        timeout: Option<Duration>,
    },
}

#[derive(Args, Debug)]
struct InputArgs {
    /// NDJSON file of spans, `redis://HOST:PORT/KEY` (a list or stream written by the Redis
    /// exporter), or `-` for standard input.
    #[arg(default_value = "-")]
    input: String,
    /// Only spans whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Only spans that ended at or after this: a duration before now (`30s`, `15m`, `2h`, `7d`)
    /// or Unix seconds.
    #[arg(long, value_parser = parse_since)]
    since: Option<u64>,
    /// Fail on the first bad line instead of skipping it.
    #[arg(long)]
    strict: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Html,
}

fn parse_score(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a score: give a number from 0 to 100")),
    }
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a number of seconds"))
}

/// `--since`: a duration before now (`90s`, `15m`, `2h`, `7d`) or Unix seconds; returns Unix ns.
fn parse_since(s: &str) -> Result<u64, String> {
    let err = || format!("{s:?} is not a time: use a duration before now like 30s, 15m, 2h, 7d, or Unix seconds");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(secs.saturating_mul(1_000_000_000));
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(err)?);
    let n: f64 = num.parse().map_err(|_| err())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        _ => return Err(err()),
    };
    Ok(now.saturating_sub((secs * 1e9) as u64))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tracewell: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, source::ReadError> {
    match cli.command {
        Command::Report { input, format, output } => {
            let report = score(&input)?;
            let text = match format {
                Format::Text => report.to_string(),
                Format::Json => report.to_json() + "\n",
                Format::Html => report.to_html(),
            };
            match output {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|e| source::ReadError::Write(path.display().to_string(), e))?
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    // A closed pipe (`| head`) is not an error worth reporting.
                    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { input, min_score } => {
            let report = score(&input)?;
            let below = report.below(min_score);
            if report.functions.is_empty() {
                eprintln!("tracewell: no spans to check in {}", input.input);
                return Ok(ExitCode::from(1));
            }
            if below.is_empty() {
                println!("ok: {} functions, all score at least {min_score}", report.functions.len());
                return Ok(ExitCode::SUCCESS);
            }
            for (name, branch, score) in &below {
                match branch {
                    Some(b) => println!("FAIL {name} [{b}]: {score:.1} < {min_score}"),
                    None => println!("FAIL {name}: {score:.1} < {min_score}"),
                }
            }
            println!("{} of the scored rows are below {min_score}", below.len());
            Ok(ExitCode::from(1))
        }
        Command::Tail { file, filter, once, timeout } => {
            read::tail(&file, filter.as_deref(), once, timeout)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn score(args: &InputArgs) -> Result<tracewell::score::Report, source::ReadError> {
    let mut scorer = Scorer::new();
    let filter = args.filter.as_deref();
    let since = args.since;
    let summary = read::read_spans(&args.input, args.strict, |s| {
        if since.is_some_and(|t| s.end_time_unix_nano < t) {
            return;
        }
        if filter.is_some_and(|f| !s.name.contains(f) && s.name != tracewell::score::RUNTIME_LAG_SPAN) {
            return;
        }
        scorer.add_sample(s);
    })?;
    if summary.bad > 0 {
        eprintln!(
            "tracewell: skipped {} bad line(s) of {}; the report covers the {} good ones (use --strict to fail instead)",
            summary.bad, summary.lines, summary.good
        );
    }
    Ok(scorer.finish())
}

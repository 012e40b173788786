//! `capcom stats` (a thin client of `GET /v1/stats`) and the "spent" line of `capcom task`.

use super::client::{Client, ClientError};
use super::exit;
use crate::report::stats::{Figures, Stats};

/// "$4.20", "$0.0042" (small amounts keep two significant digits).
pub fn usd(c: f64) -> String {
    if c > 0.0 && c < 0.01 { format!("${c:.4}") } else { format!("${c:.2}") }
}

/// "850ms", "42s", "3m 05s", "1h 02m".
pub fn ms(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// "12.3k", "950", "1.2M".
pub fn tokens(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// `capcom task`'s summary of a task's spend (the `spend` object of `GET /v1/tasks/{id}`).
pub fn spend_line(sp: &serde_json::Value) -> Option<String> {
    let runs = sp["runs"].as_u64().filter(|r| *r > 0)?;
    let mut parts = Vec::new();
    match sp["cost_usd"].as_f64() {
        Some(c) if sp["runs_with_cost"].as_u64() == Some(runs) => parts.push(usd(c)),
        Some(c) => parts.push(format!("at least {} ({} of {runs} runs reported a cost)", usd(c), sp["runs_with_cost"])),
        None => parts.push("cost not reported by the agent".to_string()),
    }
    if let (Some(i), Some(o)) = (sp["input_tokens"].as_u64(), sp["output_tokens"].as_u64()) {
        parts.push(format!("{} tokens in, {} out", tokens(i), tokens(o)));
    }
    if let Some(w) = sp["wall_ms"].as_i64() {
        parts.push(format!("{} wall", ms(w)));
    }
    if let Some(c) = sp["cpu_ms"].as_i64() {
        parts.push(format!("{} CPU", ms(c)));
    }
    let plural = |n: u64, one: &str, many: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {many}") };
    parts.push(plural(runs, "run", "runs"));
    let follow_ups = sp["follow_ups"].as_u64().unwrap_or(0);
    parts.push(plural(follow_ups, "follow-up", "follow-ups"));
    let retries = sp["retries"].as_u64().unwrap_or(0);
    if retries > 0 {
        parts.push(plural(retries, "retry", "retries"));
    }
    Some(parts.join(", "))
}

fn row(f: &Figures) -> String {
    let green = match f.green_first_try_rate {
        Some(r) => format!("{}/{} ({:.0}%)", f.green_first_try, f.reviewed, r * 100.0),
        None => "-".into(),
    };
    format!(
        "{:<20} {:>5}  {:<14} {:>15}  {:>9}  {:>9}  {:>4}  {:>10}  {:>8}",
        f.key.chars().take(20).collect::<String>(),
        f.tasks,
        green,
        f.median_ready_ms.map(ms).unwrap_or_else(|| "-".into()),
        f.cost_per_task_usd.map(usd).unwrap_or_else(|| "-".into()),
        f.cost_usd.map(usd).unwrap_or_else(|| "-".into()),
        f.runs,
        f.follow_ups,
        f.cpu_ms.map(ms).unwrap_or_else(|| "-".into()),
    )
}

pub async fn run(c: Client, by: Option<&str>, since: Option<&str>, json: bool) -> Result<u8, ClientError> {
    let mut query = Vec::new();
    if let Some(b) = by {
        query.push(format!("by={}", crate::report::feed::encode_segment(b)));
    }
    if let Some(s) = since {
        query.push(format!("since={}", crate::report::feed::encode_segment(s)));
    }
    let path = if query.is_empty() { "/v1/stats".to_string() } else { format!("/v1/stats?{}", query.join("&")) };
    let stats: Stats = c.get(&path).await?;
    if json {
        super::print_json(&stats);
        return Ok(exit::OK);
    }
    match stats.since {
        Some(t) => println!("Tasks created since {}: {}", t.format("%Y-%m-%d %H:%M UTC"), stats.total.tasks),
        None => println!("Every task: {}", stats.total.tasks),
    }
    if stats.total.tasks == 0 {
        println!("No task has run yet.");
        return Ok(exit::OK);
    }
    println!(
        "{:<20} {:>5}  {:<14} {:>15}  {:>9}  {:>9}  {:>4}  {:>10}  {:>8}",
        stats.by.as_deref().map(str::to_uppercase).unwrap_or_default(),
        "TASKS",
        "GREEN 1ST TRY",
        "MEDIAN TO READY",
        "COST/TASK",
        "COST",
        "RUNS",
        "FOLLOW-UPS",
        "CPU"
    );
    println!("{}", row(&stats.total));
    for g in &stats.groups {
        println!("{}", row(g));
    }
    let t = &stats.total;
    if t.tasks_with_cost < t.tasks {
        println!(
            "Cost is what the agents report: {} of {} tasks have one (Claude Code reports its cost; Codex and Gemini CLI report tokens only; remote agents report neither).",
            t.tasks_with_cost, t.tasks
        );
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(usd(4.2), "$4.20");
        assert_eq!(usd(0.0042), "$0.0042");
        assert_eq!(ms(850), "850ms");
        assert_eq!(ms(42_400), "42s");
        assert_eq!(ms(185_000), "3m 05s");
        assert_eq!(ms(3_720_000), "1h 02m");
        assert_eq!(tokens(12_345), "12.3k");
        let line = spend_line(&serde_json::json!({
            "runs": 2, "follow_ups": 1, "retries": 0, "cost_usd": 0.42, "runs_with_cost": 2,
            "input_tokens": 12345, "output_tokens": 678, "wall_ms": 185000, "cpu_ms": 41000
        }))
        .unwrap();
        assert_eq!(line, "$0.42, 12.3k tokens in, 678 out, 3m 05s wall, 41s CPU, 2 runs, 1 follow-up");
        let line = spend_line(&serde_json::json!({"runs": 1, "follow_ups": 0, "runs_with_cost": 0, "wall_ms": 1000})).unwrap();
        assert_eq!(line, "cost not reported by the agent, 1s wall, 1 run, 0 follow-ups");
        assert_eq!(spend_line(&serde_json::json!({"runs": 0})), None);
    }
}

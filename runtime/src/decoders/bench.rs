//! The decoder benchmark on the dev fixtures (`shared/fixtures/ctc`): WER and
//! one-thread decode time (LM loading excluded) at several beam sizes for
//! the fixture README's two parameter rows, beside Flashlight Text's numbers,
//! plus multi-thread throughput. Printed, never asserted.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use smelt_compiler::ir::DType;
use smelt_compiler::{Data, HostTensor};

use crate::io::read_npy;

use super::arpa::load_arpa;
use super::decoder::{CtcDecoderOptions, LmSource, ctc_decoder};
use super::dict::read_lines;
use super::emissions::Emissions;
use super::error::{DecodeError, Result};
use super::greedy::greedy_decode_batch;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Beam sizes to time.
    pub beams: Vec<usize>,
    /// Thread counts for the throughput rows (0 = all cores).
    pub threads: Vec<usize>,
    /// Beam size of the throughput rows.
    pub throughput_beam: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions { beams: vec![1, 5, 10, 50], threads: vec![1, 0], throughput_beam: 50 }
    }
}

/// One timed configuration.
#[derive(Debug, Clone)]
pub struct BenchRow {
    /// Parameter row name.
    pub params: &'static str,
    /// Beam size.
    pub beam: usize,
    /// Word error rate in percent.
    pub wer: f64,
    /// Decode seconds, one thread.
    pub seconds: f64,
    /// Flashlight Text's (WER %, seconds) from the fixture README, if given.
    pub flashlight: Option<(f64, f64)>,
}

/// One throughput measurement.
#[derive(Debug, Clone)]
pub struct ThroughputRow {
    /// Threads used.
    pub threads: usize,
    /// Wall seconds for the whole split.
    pub seconds: f64,
    /// Utterances per second.
    pub utterances_per_second: f64,
}

/// Everything the suite measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Seconds to load the word LM.
    pub load_seconds: f64,
    /// Utterances in the split.
    pub utterances: usize,
    /// Greedy WER in percent.
    pub greedy_wer: f64,
    /// The timed rows.
    pub rows: Vec<BenchRow>,
    /// Multi-thread throughput at [`BenchOptions::throughput_beam`], defaults.
    pub throughput: Vec<ThroughputRow>,
}

/// The two parameter rows of the fixture README: (name, lm_weight, word_score).
const PARAM_ROWS: [(&str, f64, f64); 2] =
    [("defaults (lm_weight 2, word_score 0)", 2.0, 0.0), ("lm_weight 1, word_score -1", 1.0, -1.0)];

/// Flashlight Text 0.0.7's numbers from the fixture README: (row, beam, WER %, seconds).
const FLASHLIGHT: [(usize, usize, f64, f64); 7] = [
    (0, 1, 36.95, 0.04),
    (0, 5, 2.39, 0.20),
    (0, 10, 1.29, 0.42),
    (0, 50, 1.10, 2.09),
    (1, 5, 0.90, 0.18),
    (1, 10, 0.60, 0.36),
    (1, 50, 0.30, 1.51),
];

/// Runs the suite on the fixtures in `fixture_dir`.
pub fn run_dev_suite(fixture_dir: &Path, options: &BenchOptions) -> Result<BenchReport> {
    let (data, n_tokens) = read_npy_f32_2d(&fixture_dir.join("dev_emissions.npy"))?;
    let lengths = read_npy_i32_1d(&fixture_dir.join("dev_lengths.npy"))?;
    let lengths = Emissions::lengths_from_i64(&lengths)?;
    let emissions = Emissions::packed(&data, n_tokens, &lengths)?;
    let refs = read_lines(&fixture_dir.join("dev_refs.txt"))?;
    let t0 = Instant::now();
    let model = Arc::new(load_arpa(&fixture_dir.join("lm.arpa.gz"))?);
    let load_seconds = t0.elapsed().as_secs_f64();
    let tokens = fixture_dir.join("tokens.txt");
    let lexicon = fixture_dir.join("lexicon.txt");

    let tok_dict = super::dict::Dictionary::load(&tokens)?;
    let defaults = CtcDecoderOptions::default();
    let blank = tok_dict.index(&defaults.blank_token).ok_or_else(|| {
        DecodeError::Config(format!("no blank token '{}' in tokens.txt", defaults.blank_token))
    })?;
    let sil = tok_dict.index(&defaults.sil_token);
    let greedy = greedy_decode_batch(&emissions, blank, sil, Some(&tok_dict))?;
    let greedy_text: Vec<String> = greedy.iter().map(|h| h.words.join(" ")).collect();
    let greedy_wer = wer(&greedy_text, &refs);

    let decoder_for = |lm_weight: f64, word_score: f64, beam: usize| {
        let opts =
            CtcDecoderOptions { beam_size: beam, lm_weight, word_score, ..Default::default() };
        ctc_decoder(Some(&lexicon), &tokens, LmSource::Loaded(model.clone()), None, opts)
    };
    let mut rows = Vec::new();
    for (ri, &(name, lm_weight, word_score)) in PARAM_ROWS.iter().enumerate() {
        for &beam in &options.beams {
            let decoder = decoder_for(lm_weight, word_score, beam)?;
            let t = Instant::now();
            let hyps = decoder.decode_batch(&emissions, 1)?;
            let seconds = t.elapsed().as_secs_f64();
            let text: Vec<String> = hyps
                .iter()
                .map(|h| h.first().map(|h| h.words.join(" ")).unwrap_or_default())
                .collect();
            let flashlight =
                FLASHLIGHT.iter().find(|f| f.0 == ri && f.1 == beam).map(|f| (f.2, f.3));
            rows.push(BenchRow { params: name, beam, wer: wer(&text, &refs), seconds, flashlight });
        }
    }
    let mut throughput = Vec::new();
    let decoder = decoder_for(2.0, 0.0, options.throughput_beam)?;
    for &threads in &options.threads {
        let t = Instant::now();
        decoder.decode_batch(&emissions, threads)?;
        let seconds = t.elapsed().as_secs_f64();
        let threads = if threads == 0 { rayon::current_num_threads() } else { threads };
        throughput.push(ThroughputRow {
            threads,
            seconds,
            utterances_per_second: emissions.len() as f64 / seconds,
        });
    }
    Ok(BenchReport { load_seconds, utterances: emissions.len(), greedy_wer, rows, throughput })
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "decoder suite: {} utterances, lexicon + lm.arpa, LM load {:.2} s, greedy WER {:.2}%",
            self.utterances, self.load_seconds, self.greedy_wer
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| parameters | beam | WER | seconds | Flashlight WER | Flashlight s | time ratio |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|")?;
        for r in &self.rows {
            let (fw, fs, ratio) = match r.flashlight {
                Some((w, s)) => {
                    (format!("{w:.2}%"), format!("{s:.2}"), format!("{:.2}", r.seconds / s))
                }
                None => ("".into(), "".into(), "".into()),
            };
            writeln!(
                f,
                "| {} | {} | {:.2}% | {:.3} | {fw} | {fs} | {ratio} |",
                r.params, r.beam, r.wer, r.seconds
            )?;
        }
        writeln!(f)?;
        writeln!(f, "| threads | seconds | utterances/s |")?;
        writeln!(f, "|---|---|---|")?;
        for t in &self.throughput {
            writeln!(f, "| {} | {:.3} | {:.1} |", t.threads, t.seconds, t.utterances_per_second)?;
        }
        Ok(())
    }
}

/// Word error rate in percent: word edit distance over reference words.
pub fn wer(hyps: &[String], refs: &[String]) -> f64 {
    let mut errors = 0usize;
    let mut words = 0usize;
    for (h, r) in hyps.iter().zip(refs) {
        let h: Vec<&str> = h.split_whitespace().collect();
        let r: Vec<&str> = r.split_whitespace().collect();
        words += r.len();
        errors += edit_distance(&h, &r);
    }
    if words == 0 { 0.0 } else { 100.0 * errors as f64 / words as f64 }
}

fn edit_distance(a: &[&str], b: &[&str]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let sub = diag + usize::from(x != y);
            diag = row[j + 1];
            row[j + 1] = sub.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Reads a 2-D f32 `.npy` as (values, last dim).
fn read_npy_f32_2d(path: &Path) -> Result<(Vec<f32>, usize)> {
    let t = read_npy_as(path, DType::F32, 2)?;
    // f32 values are held exactly in f64, so narrowing back is exact.
    Ok((t.to_f64_vec().into_iter().map(|x| x as f32).collect(), t.shape[1]))
}

/// Reads a 1-D integer `.npy` (i32 or i64) as i64s.
fn read_npy_i32_1d(path: &Path) -> Result<Vec<i64>> {
    let t = read_npy_as(path, DType::I32, 1)?;
    match t.data {
        Data::Int(v) => Ok(v),
        _ => Err(DecodeError::parse(path, 0, "expected integer lengths")),
    }
}

fn read_npy_as(path: &Path, dtype: DType, rank: usize) -> Result<HostTensor> {
    let t = read_npy(path).map_err(|e| DecodeError::parse(path, 0, e.to_string()))?;
    let int_ok = dtype.is_int() && t.dtype.is_int();
    if (t.dtype != dtype && !int_ok) || t.shape.len() != rank {
        return Err(DecodeError::parse(
            path,
            0,
            format!("expected {rank}-D {dtype} data, got {}{:?}", t.dtype, t.shape),
        ));
    }
    Ok(t)
}

/// Reads the dev fixtures' emissions `[ΣT, N]` and lengths (for tests and tools).
pub fn read_dev_emissions(fixture_dir: &Path) -> Result<(Vec<f32>, usize, Vec<usize>)> {
    let (data, n) = read_npy_f32_2d(&fixture_dir.join("dev_emissions.npy"))?;
    let lengths = read_npy_i32_1d(&fixture_dir.join("dev_lengths.npy"))?;
    Ok((data, n, Emissions::lengths_from_i64(&lengths)?))
}

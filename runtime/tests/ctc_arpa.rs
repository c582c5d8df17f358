//! The ARPA loader against a direct reading of the fixture files: every
//! n-gram of both fixture LMs, queried through the model's states, scores
//! its own probability, and random word sequences (mostly unseen n-grams)
//! score what the textbook back-off recursion over the raw text says.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use smelt_runtime::decoders::{NgramLm, load_arpa};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/ctc")
}

/// The file read naively: n-gram (as words) → (log10 prob, log10 back-off).
struct Direct {
    order: usize,
    grams: HashMap<Vec<String>, (f64, f64)>,
}

impl Direct {
    fn read(path: &Path) -> Direct {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let mut grams = HashMap::new();
        let mut n = 0;
        let mut order = 0;
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix('\\') {
                n = rest.strip_suffix("-grams:").and_then(|x| x.parse().ok()).unwrap_or(0);
                order = order.max(n);
                continue;
            }
            if n == 0 || line.is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            let words: Vec<String> = f[1..=n].iter().map(|s| s.to_string()).collect();
            let backoff = f.get(n + 1).map_or(0.0, |b| b.parse().unwrap());
            grams.insert(words, (f[0].parse().unwrap(), backoff));
        }
        Direct { order, grams }
    }

    /// log10 P(w | history) by the back-off recursion on the last order-1 words.
    fn prob(&self, history: &[String], w: &str) -> f64 {
        let w = if self.grams.contains_key(&vec![w.to_string()]) { w } else { "<unk>" };
        let ctx = &history[history.len().saturating_sub(self.order - 1)..];
        self.backoff_prob(ctx, w)
    }

    fn backoff_prob(&self, ctx: &[String], w: &str) -> f64 {
        let mut gram = ctx.to_vec();
        gram.push(w.to_string());
        if let Some(&(p, _)) = self.grams.get(&gram) {
            return p;
        }
        let bo = self.grams.get(ctx).map_or(0.0, |e| e.1);
        bo + self.backoff_prob(&ctx[1..], w)
    }
}

/// Scores `words` one after another from the empty context through the
/// model's states; returns each step's log10 probability.
fn model_scores(lm: &NgramLm, words: &[String]) -> Vec<f32> {
    let mut state = lm.begin(true);
    words
        .iter()
        .map(|w| {
            let (next, p) = lm.score_id(&state, lm.word_id(w));
            state = next;
            p
        })
        .collect()
}

fn check_file(name: &str) {
    let path = fixtures().join(name);
    let lm = load_arpa(&path).expect("load");
    let direct = Direct::read(&path);
    assert_eq!(lm.order(), direct.order);
    let mut checked = 0;
    // Every n-gram of the file, its last word scored after the others.
    for (gram, &(p, _)) in &direct.grams {
        if gram.len() > 1 && gram[1..].iter().any(|w| w == "<s>") {
            continue;
        }
        let got = *model_scores(&lm, gram).last().unwrap();
        let want = if gram.len() == 1 {
            p
        } else {
            direct.prob(&gram[..gram.len() - 1], &gram[gram.len() - 1])
        };
        assert!((f64::from(got) - want).abs() < 1e-4, "{gram:?}: model {got}, file {want}");
        assert!((want - p).abs() < 1e-9 || gram.len() == 1);
        checked += 1;
    }
    // Random sequences: mostly unseen n-grams, some unknown words.
    let vocab: Vec<String> = direct
        .grams
        .keys()
        .filter(|g| g.len() == 1 && g[0] != "<s>")
        .map(|g| g[0].clone())
        .collect();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rand = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..3000 {
        let len = 1 + rand(8);
        let mut words = vec!["<s>".to_string()];
        for _ in 0..len {
            words.push(if rand(20) == 0 {
                "zzz-not-a-word".into()
            } else {
                vocab[rand(vocab.len())].clone()
            });
        }
        let got = model_scores(&lm, &words);
        for i in 1..words.len() {
            let want = direct.prob(&words[..i], &words[i]);
            assert!(
                (f64::from(got[i]) - want).abs() < 1e-4,
                "{:?} then {}: model {}, file {want}",
                &words[..i],
                words[i],
                got[i]
            );
            checked += 1;
        }
    }
    assert!(checked > direct.grams.len());
}

#[test]
fn word_lm_agrees_with_direct_reading() {
    check_file("lm.arpa.gz");
}

#[test]
fn char_lm_agrees_with_direct_reading() {
    check_file("lm_char.arpa.gz");
}

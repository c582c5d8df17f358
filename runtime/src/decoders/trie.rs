//! The lexicon trie: one path of token indices per spelling, word labels at
//! the nodes where spellings end, and each node's score smeared upward with
//! max (Flashlight's `SmearingMode::MAX`) so a partial word already carries
//! the best LM score any completion of it could get.
//!
//! Built once, then frozen into flat arrays (children sorted by token) so
//! the search walks contiguous memory.

/// Index of the root node.
pub(crate) const ROOT: u32 = 0;

/// At most this many words end at one node (Flashlight's `kTrieMaxLabel`);
/// further homographs are dropped as there.
const MAX_LABELS: usize = 6;

/// Below this, `log1p(exp(x))` adds nothing (Flashlight's threshold).
const MINUS_LOG_THRESHOLD: f64 = -39.14;

#[derive(Debug, Default, Clone)]
struct BuildNode {
    children: Vec<(u32, u32)>,
    labels: Vec<i32>,
    scores: Vec<f32>,
}

/// A frozen, smeared lexicon trie.
#[derive(Debug, Clone)]
pub(crate) struct Trie {
    child_start: Vec<u32>,
    child_token: Vec<u32>,
    child_node: Vec<u32>,
    label_start: Vec<u32>,
    labels: Vec<i32>,
    max_score: Vec<f32>,
}

/// Collects spellings, then [`TrieBuilder::smear`] freezes them.
#[derive(Debug)]
pub(crate) struct TrieBuilder {
    nodes: Vec<BuildNode>,
}

impl TrieBuilder {
    pub fn new() -> Self {
        TrieBuilder { nodes: vec![BuildNode::default()] }
    }

    /// Adds `word` with LM score `score` at the end of `spelling`.
    pub fn insert(&mut self, spelling: &[u32], word: i32, score: f32) {
        let mut node = ROOT as usize;
        for &tok in spelling {
            let found = self.nodes[node].children.iter().find(|c| c.0 == tok).map(|c| c.1);
            node = match found {
                Some(n) => n as usize,
                None => {
                    let n = self.nodes.len();
                    self.nodes.push(BuildNode::default());
                    self.nodes[node].children.push((tok, n as u32));
                    n
                }
            };
        }
        let n = &mut self.nodes[node];
        if n.labels.len() < MAX_LABELS {
            n.labels.push(word);
            n.scores.push(score);
        }
    }

    /// Smears scores upward with max and freezes the trie.
    pub fn smear(mut self) -> Trie {
        let count = self.nodes.len();
        let mut max_score = vec![f32::NEG_INFINITY; count];
        // Children always have larger indices than their parent, so one
        // reverse sweep visits every child before its parent.
        for i in (0..count).rev() {
            let node = &self.nodes[i];
            let mut m = f32::NEG_INFINITY;
            for &s in &node.scores {
                m = log_add(f64::from(m), f64::from(s)) as f32;
            }
            for &(_, c) in &node.children {
                let cm = max_score[c as usize];
                if cm > m {
                    m = cm;
                }
            }
            max_score[i] = m;
        }
        let mut t = Trie {
            child_start: Vec::with_capacity(count + 1),
            child_token: Vec::with_capacity(count),
            child_node: Vec::with_capacity(count),
            label_start: Vec::with_capacity(count + 1),
            labels: Vec::new(),
            max_score,
        };
        for node in &mut self.nodes {
            node.children.sort_unstable();
            t.child_start.push(t.child_token.len() as u32);
            t.label_start.push(t.labels.len() as u32);
            for &(tok, c) in &node.children {
                t.child_token.push(tok);
                t.child_node.push(c);
            }
            t.labels.extend_from_slice(&node.labels);
        }
        t.child_start.push(t.child_token.len() as u32);
        t.label_start.push(t.labels.len() as u32);
        t
    }
}

impl Trie {
    /// `(token, child)` pairs of `node`, sorted by token.
    #[inline]
    pub fn children(&self, node: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let (a, b) = (self.child_start[node as usize], self.child_start[node as usize + 1]);
        let r = a as usize..b as usize;
        self.child_token[r.clone()].iter().copied().zip(self.child_node[r].iter().copied())
    }

    /// True when some spelling continues past `node`.
    #[inline]
    pub fn has_children(&self, node: u32) -> bool {
        self.child_start[node as usize] != self.child_start[node as usize + 1]
    }

    /// Words whose spelling ends at `node`.
    #[inline]
    pub fn labels(&self, node: u32) -> &[i32] {
        let (a, b) = (self.label_start[node as usize], self.label_start[node as usize + 1]);
        &self.labels[a as usize..b as usize]
    }

    /// The smeared score of `node`.
    #[inline]
    pub fn max_score(&self, node: u32) -> f32 {
        self.max_score[node as usize]
    }

    /// Number of nodes.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.max_score.len()
    }
}

fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a < b { (b, a) } else { (a, b) };
    let d = lo - hi;
    if d < MINUS_LOG_THRESHOLD || d.is_nan() { hi } else { hi + d.exp().ln_1p() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smearing_takes_the_max_over_completions() {
        let mut b = TrieBuilder::new();
        b.insert(&[2, 3, 1], 0, -2.0);
        b.insert(&[2, 4, 1], 1, -1.0);
        b.insert(&[5, 1], 2, -3.0);
        let t = b.smear();
        let (tok, n2) = t.children(ROOT).next().unwrap();
        assert_eq!(tok, 2);
        assert_eq!(t.max_score(n2), -1.0);
        assert_eq!(t.max_score(ROOT), -1.0);
        let ends: Vec<_> = t.children(n2).collect();
        assert_eq!(ends.len(), 2);
        let (_, n23) = ends[0];
        let (_, leaf) = t.children(n23).next().unwrap();
        assert_eq!(t.labels(leaf), &[0]);
        assert!(!t.has_children(leaf));
        assert_eq!(t.len(), 8);
    }
}

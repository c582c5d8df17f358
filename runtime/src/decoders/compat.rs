//! Reproduces one quirk of TorchAudio's `ctc_decoder` so lexicon-free
//! results match it: without a lexicon and with a KenLM file, TorchAudio
//! builds the LM's word dictionary from a Python dict `{token: [[token]]}`
//! (plus the unknown word) that pybind11 converts to a C++
//! `std::unordered_map`, and numbers the words in that map's iteration
//! order; the decoder then asks the LM about token `n` as word `n`. So token
//! `n` is scored as whichever string libstdc++'s hash table happens to put
//! `n`-th. [`cpp_unordered_map_order`] computes that order: libstdc++'s
//! `std::hash<std::string>` (64-bit `_Hash_bytes`) and its bucket list, after
//! pybind11's `reserve(len)`.

/// libstdc++'s prime bucket counts from index 6 on (`__prime_list`).
const PRIMES: [u64; 40] = [
    17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 103, 109, 113, 127,
    137, 139, 149, 157, 167, 179, 193, 199, 211, 227, 241, 257, 277, 293, 313, 337, 359,
];
const MORE_PRIMES: [u64; 44] = [
    383, 409, 439, 467, 503, 541, 577, 619, 661, 709, 761, 823, 887, 953, 1031, 1109, 1193, 1289,
    1381, 1493, 1613, 1741, 1879, 2029, 2179, 2357, 2549, 2753, 2971, 3209, 3469, 3739, 4027, 4349,
    4703, 5087, 5503, 5953, 6427, 6949, 7517, 8123, 8783, 9497,
];
const EVEN_MORE_PRIMES: [u64; 30] = [
    10273, 11113, 12011, 12983, 14033, 15173, 16411, 17749, 19183, 20753, 22447, 24281, 26267,
    28411, 30727, 33223, 35933, 38873, 42043, 45481, 49201, 53201, 57557, 62233, 67307, 72817,
    78779, 85229, 92203, 99733,
];

/// `_Prime_rehash_policy::_M_next_bkt`: the bucket count for at least `n`.
/// `None` past the table here (token sets of 100k are not a thing).
fn next_bucket_count(n: u64) -> Option<u64> {
    const FAST: [u64; 14] = [2, 2, 2, 3, 5, 5, 7, 7, 11, 11, 11, 11, 13, 13];
    if n == 0 {
        return Some(1);
    }
    if n < 14 {
        return Some(FAST[n as usize]);
    }
    PRIMES.iter().chain(&MORE_PRIMES).chain(&EVEN_MORE_PRIMES).copied().find(|&p| p >= n)
}

/// libstdc++'s `std::hash<std::string>` on 64-bit targets.
pub(crate) fn cpp_string_hash(bytes: &[u8]) -> u64 {
    const MUL: u64 = (0xc6a4_a793_u64 << 32) + 0x5bd1_e995;
    let shift_mix = |v: u64| v ^ (v >> 47);
    let len = bytes.len();
    let mut hash = 0xc70f_6907_u64 ^ (len as u64).wrapping_mul(MUL);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let data = shift_mix(u64::from_le_bytes(w).wrapping_mul(MUL)).wrapping_mul(MUL);
        hash ^= data;
        hash = hash.wrapping_mul(MUL);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let data = rest.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        hash ^= data;
        hash = hash.wrapping_mul(MUL);
    }
    hash = shift_mix(hash).wrapping_mul(MUL);
    shift_mix(hash)
}

/// Iteration order of a `std::unordered_map<std::string, _>` after
/// `reserve(keys.len())` and inserting `keys` in order (later duplicates
/// ignored). `None` for key sets too large for the prime table here.
pub(crate) fn cpp_unordered_map_order(keys: &[String]) -> Option<Vec<String>> {
    let mut unique: Vec<&String> = Vec::with_capacity(keys.len());
    for k in keys {
        if !unique.contains(&k) {
            unique.push(k);
        }
    }
    // reserve(n) rehashes to the next bucket count ≥ n, whose resize
    // threshold is ≥ n, so no insertion below rehashes again.
    let buckets = next_bucket_count(keys.len() as u64)? as usize;
    const HEAD: usize = usize::MAX;
    // `before[b]`: the node before bucket b's first node (HEAD = list head).
    let mut before: Vec<Option<usize>> = vec![None; buckets];
    let mut next: Vec<Option<usize>> = vec![None; unique.len()];
    let mut head: Option<usize> = None;
    let bucket = |k: &String| (cpp_string_hash(k.as_bytes()) % buckets as u64) as usize;
    for (i, k) in unique.iter().enumerate() {
        let b = bucket(k);
        match before[b] {
            // Bucket in use: the node goes first in it, right after `p`.
            Some(p) if p != HEAD => {
                next[i] = next[p];
                next[p] = Some(i);
            }
            // Bucket in use and first in the list: the node becomes the head.
            Some(_) => {
                next[i] = head;
                head = Some(i);
            }
            // Empty bucket: the node becomes the head, and the bucket of the
            // old head now starts after it.
            None => {
                next[i] = head;
                head = Some(i);
                if let Some(old) = next[i] {
                    before[bucket(unique[old])] = Some(i);
                }
                before[b] = Some(HEAD);
            }
        }
    }
    let mut out = Vec::with_capacity(unique.len());
    let mut at = head;
    while let Some(i) = at {
        out.push(unique[i].clone());
        at = next[i];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_of_the_fixture_tokens_matches_torchaudio() {
        // What TorchAudio 2.x with libstdc++ makes of the dev fixture's tokens:
        // the order that reproduces its lexicon-free scores exactly.
        let tokens = "- | e t a o n i h s r d l u m w c f g y p b v k ' x j q z <unk>";
        let keys: Vec<String> = tokens.split(' ').map(String::from).collect();
        let order = cpp_unordered_map_order(&keys).unwrap();
        let expect = "<unk> x ' v j b p g f k c w z m u l q d s i r h n o y a t e | -";
        assert_eq!(order.join(" "), expect);
    }
}

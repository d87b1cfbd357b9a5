//! Stable 64-bit hashing and SimHash (Charikar 2002), pure.
//!
//! Fingerprints are stored and compared across processes and releases, so every hash here is
//! fixed by this file: FNV-1a over the bytes, then the MurmurHash3 `fmix64` finalizer so that
//! every output bit depends on every input bit (FNV-1a alone leaves the high bits of short
//! inputs poorly mixed, which would bias SimHash bits). Never `std`'s `RandomState`, whose
//! seeds change per process.

/// FNV-1a 64-bit offset basis and prime.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The MurmurHash3 64-bit finalizer: a bijection with full avalanche.
pub(crate) fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// A stable 64-bit hash of `bytes`: the same value on every machine, process and release.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    mix(h)
}

/// The number of differing bits of two fingerprints.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// The hash of a run of word hashes (a shingle), order-sensitive: "a b" and "b a" differ.
pub(crate) fn shingle_hash(words: &[u64]) -> u64 {
    let mut h = FNV_OFFSET;
    for w in words {
        h = mix(h ^ w).wrapping_add(FNV_PRIME);
    }
    mix(h)
}

/// SimHash of a multiset of feature hashes, each of weight 1: bit `i` of the result is set when
/// more features have bit `i` set than clear. Similar feature sets give fingerprints at a small
/// Hamming distance (the expected distance is 64·θ/π for the angle θ between the sets' count
/// vectors). Ties (and the empty set) give a clear bit, so the result is deterministic.
pub fn simhash(features: impl IntoIterator<Item = u64>) -> u64 {
    let mut counts = [0i32; 64];
    for f in features {
        for (bit, count) in counts.iter_mut().enumerate() {
            if f >> bit & 1 == 1 {
                *count += 1;
            } else {
                *count -= 1;
            }
        }
    }
    counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .fold(0u64, |acc, (bit, _)| acc | 1 << bit)
}

/// The SimHash of the `size`-word shingles of `words` (already hashed words). A text shorter
/// than one shingle is one feature of all its words; an empty text is `0`.
pub(crate) fn shingled_simhash(words: &[u64], size: usize) -> u64 {
    if words.is_empty() {
        return 0;
    }
    let size = size.clamp(1, words.len());
    simhash(words.windows(size).map(shingle_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_fixed_when_computed_in_any_process() {
        // Pinned values: changing the hash would silently change every stored fingerprint.
        assert_eq!(stable_hash(b""), 0xefd0_1f60_ba99_2926);
        assert_eq!(stable_hash(b"feedmill"), 0x7927_adaf_d74c_38e9);
        assert_ne!(stable_hash(b"a"), stable_hash(b"b"));
    }

    #[test]
    fn simhash_sets_bit_by_majority_when_features_disagree() {
        assert_eq!(simhash([0b011, 0b110, 0b010]), 0b010);
        // A tie leaves the bit clear.
        assert_eq!(simhash([0b01, 0b10]), 0);
    }

    #[test]
    fn simhash_is_zero_when_there_are_no_features() {
        assert_eq!(simhash(std::iter::empty()), 0);
        assert_eq!(shingled_simhash(&[], 3), 0);
    }

    #[test]
    fn simhash_equals_the_feature_when_there_is_one() {
        let f = stable_hash(b"only");
        assert_eq!(simhash([f]), f);
    }

    #[test]
    fn shingle_hash_depends_on_order_when_words_swap() {
        let (a, b) = (stable_hash(b"a"), stable_hash(b"b"));
        assert_ne!(shingle_hash(&[a, b]), shingle_hash(&[b, a]));
    }

    #[test]
    fn hamming_counts_differing_bits_when_fingerprints_differ() {
        assert_eq!(hamming(0, 0), 0);
        assert_eq!(hamming(0, u64::MAX), 64);
        assert_eq!(hamming(0b1010, 0b0110), 2);
    }

    #[test]
    fn shingled_simhash_is_close_when_one_word_of_many_changes() {
        let words: Vec<u64> = (0..200u64).map(|i| stable_hash(&i.to_le_bytes())).collect();
        let mut edited = words.clone();
        edited[100] = stable_hash(b"changed");
        let other: Vec<u64> = (1000..1200u64)
            .map(|i| stable_hash(&i.to_le_bytes()))
            .collect();
        let near = hamming(shingled_simhash(&words, 3), shingled_simhash(&edited, 3));
        let far = hamming(shingled_simhash(&words, 3), shingled_simhash(&other, 3));
        assert!(near <= 6, "near {near}");
        assert!(far >= 16, "far {far}");
    }
}

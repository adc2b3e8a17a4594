//! Recovery codes: single-use codes for a user who lost their authenticator. They are shown
//! once and stored only as hashes. Typed input is normalised first, so case, spaces and dashes
//! do not matter.

use rand::Rng;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::RECOVERY_CODE_COUNT;

/// Lowercase letters and digits without the look-alikes 0/o, 1/l/i: 31 symbols, about
/// 4.95 bits each.
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// Three groups of five: 15 symbols, about 74 bits. Two groups of five (49.5 bits) would fall
/// short of the 60 bits that make a fast hash safe (see [`hash`]).
const GROUPS: usize = 3;
const GROUP_LENGTH: usize = 5;

/// A fresh set of [`RECOVERY_CODE_COUNT`] codes, `xxxxx-xxxxx-xxxxx`, from the OS random
/// source. Shown to the user once; store their [`hash`]es.
pub fn generate() -> Vec<String> {
    (0..RECOVERY_CODE_COUNT).map(|_| generate_one()).collect()
}

fn generate_one() -> String {
    let groups: Vec<String> = (0..GROUPS)
        .map(|_| {
            // `gen_range` samples without modulo bias, so every symbol is equally likely.
            (0..GROUP_LENGTH).map(|_| char::from(ALPHABET[OsRng.gen_range(0..ALPHABET.len())])).collect()
        })
        .collect();
    groups.join("-")
}

/// The canonical form of a typed code: trimmed, lowercase, without dashes or whitespace.
pub fn normalise(typed: &str) -> String {
    typed.chars().filter(|character| *character != '-' && !character.is_whitespace()).collect::<String>().to_lowercase()
}

/// The stored form of `user_id`'s `code`: hex SHA-256 of the user id's 16 bytes followed by
/// the normalised code. A fast hash is enough here, unlike for passwords: a code carries about
/// 74 random bits, so recovering one from a leaked hash costs about 2^73 guesses whatever the
/// hash's speed. Prefixing the user id is what keeps it that way for a whole leaked table:
/// without it, one search would test each guess against every stored code at once, dividing
/// the work by their number (2^73 over 10^7 stored codes is about 2^50: a day on one GPU).
pub fn hash(user_id: Uuid, code: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(user_id.as_bytes());
    digest.update(normalise(code).as_bytes());
    hex::encode(digest.finalize())
}

/// Whether `typed` is the code of `user_id` that `stored_hash` was made from, compared in
/// constant time.
pub fn matches(stored_hash: &str, user_id: Uuid, typed: &str) -> bool {
    hash(user_id, typed).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn a_set_is_ten_distinct_codes_in_three_groups_of_five_unambiguous_symbols() {
        let codes = generate();
        assert_eq!(codes.len(), 10);
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 10);
        for code in &codes {
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 3, "{code}");
            for group in groups {
                assert_eq!(group.len(), 5, "{code}");
                assert!(group.bytes().all(|byte| ALPHABET.contains(&byte)), "{code}");
            }
        }
    }

    #[test]
    fn the_alphabet_has_no_look_alikes_and_codes_carry_at_least_sixty_bits() {
        for look_alike in [b'0', b'o', b'1', b'l', b'i'] {
            assert!(!ALPHABET.contains(&look_alike));
        }
        assert!(ALPHABET.iter().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit()));
        assert_eq!(ALPHABET.iter().collect::<HashSet<_>>().len(), ALPHABET.len());
        let bits = (GROUPS * GROUP_LENGTH) as f64 * (ALPHABET.len() as f64).log2();
        assert!(bits >= 60.0, "{bits}");
    }

    #[test]
    fn typed_codes_are_normalised_before_comparison() {
        assert_eq!(normalise("  ABCDE-fghjk-MNPQR \n"), "abcdefghjkmnpqr");
        assert_eq!(normalise("abcde fghjk mnpqr"), "abcdefghjkmnpqr");
        assert_eq!(normalise("abcdefghjkmnpqr"), "abcdefghjkmnpqr");
    }

    const USER: Uuid = Uuid::from_u128(0x1234);

    #[test]
    fn a_code_matches_its_hash_however_it_is_typed_and_no_other_does() {
        let code = "abcde-fghjk-mnpqr";
        let stored = hash(USER, code);
        assert_eq!(stored, hex::encode(Sha256::digest([USER.as_bytes().as_slice(), b"abcdefghjkmnpqr"].concat())));
        assert_eq!(stored.len(), 64);
        for typed in [code, "ABCDE-FGHJK-MNPQR", " abcde fghjk mnpqr ", "abcdefghjkmnpqr"] {
            assert!(matches(&stored, USER, typed), "{typed:?}");
        }
        for typed in ["abcde-fghjk-mnpqs", "abcde-fghjk", "", "abcde-fghjk-mnpqr-2"] {
            assert!(!matches(&stored, USER, typed), "{typed:?}");
        }
        assert!(!matches("", USER, code));
    }

    #[test]
    fn the_same_code_hashes_differently_for_another_user() {
        let code = "abcde-fghjk-mnpqr";
        assert_ne!(hash(USER, code), hash(Uuid::from_u128(0x1235), code));
        assert!(!matches(&hash(USER, code), Uuid::from_u128(0x1235), code));
    }

    #[test]
    fn each_code_of_a_set_matches_only_its_own_hash() {
        let codes = generate();
        let hashes: Vec<String> = codes.iter().map(|code| hash(USER, code)).collect();
        for (index, code) in codes.iter().enumerate() {
            let matching: Vec<usize> = (0..hashes.len()).filter(|other| matches(&hashes[*other], USER, code)).collect();
            assert_eq!(matching, [index]);
        }
    }
}

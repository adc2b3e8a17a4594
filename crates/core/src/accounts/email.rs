use crate::error::DomainError;

/// Longest address SMTP can carry (RFC 5321 forward-path limit).
const MAX_EMAIL_LENGTH: usize = 254;

/// An email address parsed once at the boundary: kept as typed, compared by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    address: String,
    key: String,
}

impl Email {
    /// Trims, checks the syntax and length, and derives the case-insensitive key.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let address = raw.trim();
        if address.is_empty() {
            return Err(DomainError::invalid_field("email", "is required"));
        }
        if address.len() > MAX_EMAIL_LENGTH {
            return Err(DomainError::invalid_field("email", "is longer than 254 characters"));
        }
        if !email_address::EmailAddress::is_valid(address) || address.chars().any(char::is_control) {
            return Err(DomainError::invalid_field("email", "is not a valid email address"));
        }
        Ok(Self { address: address.to_owned(), key: Self::key_of(address) })
    }

    /// The normalised form used for uniqueness and look-ups.
    pub fn key_of(raw: &str) -> String {
        raw.trim().to_lowercase()
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_case_addresses_share_one_key_but_keep_their_spelling() {
        let email = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(email.address(), "Alice@Example.COM");
        assert_eq!(email.key(), "alice@example.com");
    }

    #[test]
    fn malformed_and_oversized_addresses_are_rejected() {
        for raw in ["", "plain", "a@", "@b.c", "a b@c.d", "x@y.z\r\nBcc: evil@x.y"] {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(10_000));
        assert!(Email::parse(&long).is_err());
    }
}

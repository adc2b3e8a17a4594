use crate::error::DomainError;

/// Longest address SMTP can carry (RFC 5321 forward-path limit).
pub const MAX_EMAIL_LENGTH: usize = 254;

/// Domain of the undeliverable addresses given to accounts that have no proven one
/// (`.invalid` is reserved by RFC 2606, so no mailbox can exist there).
pub const PLACEHOLDER_DOMAIN: &str = "users.invalid";

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
        Self::check_length(address)?;
        if !email_address::EmailAddress::is_valid(address) || address.chars().any(char::is_control) {
            return Err(DomainError::invalid_field("email", "is not a valid email address"));
        }
        Ok(Self { address: address.to_owned(), key: Self::key_of(address) })
    }

    /// The unique, undeliverable address of an account whose provider proved no mailbox.
    pub fn placeholder(provider: &str, subject: &str) -> Self {
        let address = format!("{provider}-{subject}@{PLACEHOLDER_DOMAIN}");
        Self { key: Self::key_of(&address), address }
    }

    /// Whether the address is in the reserved `.invalid` top-level domain (placeholders live
    /// there): nobody may register or receive mail at such an address.
    pub fn is_reserved(&self) -> bool {
        self.key.rsplit_once('@').is_some_and(|(_, domain)| domain == "invalid" || domain.ends_with(".invalid"))
    }

    /// Refuses, before any look-up or counter, what cannot be an address at all: whatever is
    /// longer than SMTP allows. Keys of failed-login counters stay bounded this way.
    pub fn check_length(raw: &str) -> Result<(), DomainError> {
        if raw.trim().len() > MAX_EMAIL_LENGTH {
            return Err(DomainError::invalid_field("email", "is longer than 254 characters"));
        }
        Ok(())
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
        assert!(Email::check_length(&long).is_err());
        assert!(Email::check_length(&"a".repeat(254)).is_ok());
    }

    #[test]
    fn placeholders_and_other_invalid_domains_are_reserved() {
        let placeholder = Email::placeholder("vk", "5553");
        assert_eq!(placeholder.address(), "vk-5553@users.invalid");
        assert!(placeholder.is_reserved());
        for raw in ["vk-1@USERS.INVALID", "a@b.invalid", "a@invalid"] {
            assert!(Email::parse(raw).unwrap().is_reserved(), "{raw}");
        }
        for raw in ["a@example.com", "a@invalid.example.com", "a@notinvalid"] {
            assert!(!Email::parse(raw).unwrap().is_reserved(), "{raw}");
        }
    }
}

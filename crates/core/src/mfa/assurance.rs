//! How sure we are that a session belongs to its user: the `aal` claim (NIST SP 800-63B
//! authenticator assurance levels, the two this service issues) and the `amr` claim (RFC 8176
//! method names). Both are decided here from the methods a sign-in used, so login, social
//! sign-in, passkey sign-in and step-up cannot disagree.

use serde::{Deserialize, Serialize};

use super::{UnknownName, wire_names};

/// Authentication assurance level. Ordered: `Aal2` outranks `Aal1`, so "at least aal2" is
/// `aal >= Aal::Aal2`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aal {
    /// One factor. Tokens issued before assurance was recorded read as this.
    #[default]
    Aal1,
    /// Two distinct factors, or a passkey that verified its user (the key is possession, the
    /// PIN or biometric it checked is the second factor).
    Aal2,
}

impl Aal {
    const ALL: [Self; 2] = [Self::Aal1, Self::Aal2];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aal1 => "aal1",
            Self::Aal2 => "aal2",
        }
    }

    /// The level the `methods` of one sign-in reach. `passkey_user_verified` says whether a
    /// passkey assertion among them carried the UV flag; it counts only if `Hwk` was used.
    pub fn from_methods(methods: &[AuthMethod], passkey_user_verified: bool) -> Self {
        let has_first_factor = methods.iter().any(|method| method.is_first_factor());
        let has_second_factor = methods.iter().any(|method| !method.is_first_factor());
        let verified_passkey = passkey_user_verified && methods.contains(&AuthMethod::Hwk);
        if (has_first_factor && has_second_factor) || verified_passkey { Self::Aal2 } else { Self::Aal1 }
    }
}

wire_names!(Aal, "assurance level");

/// An authentication method, named as RFC 8176 §2 registers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// Password.
    Pwd,
    /// One-time password: a TOTP code or a recovery code.
    Otp,
    /// Proof of possession of a hardware-secured key: a passkey.
    Hwk,
    /// Federated sign-in (Google, VK ID, Facebook): the provider checked the first factor.
    Fed,
}

impl AuthMethod {
    const ALL: [Self; 4] = [Self::Pwd, Self::Otp, Self::Hwk, Self::Fed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pwd => "pwd",
            Self::Otp => "otp",
            Self::Hwk => "hwk",
            Self::Fed => "fed",
        }
    }

    /// Password and federated sign-in say who claims to be signing in; one-time codes and
    /// passkeys prove possession of something enrolled on the account. A password plus a
    /// federated sign-in is still one kind of factor, not two.
    fn is_first_factor(self) -> bool {
        matches!(self, Self::Pwd | Self::Fed)
    }
}

wire_names!(AuthMethod, "authentication method");

/// `current` followed by the methods of `added` it lacks: no duplicates, first use first, so
/// the `amr` of a stepped-up session reads in the order the factors were presented.
pub fn merge_methods(current: &[AuthMethod], added: &[AuthMethod]) -> Vec<AuthMethod> {
    let mut merged = Vec::with_capacity(current.len() + added.len());
    for method in current.iter().chain(added) {
        if !merged.contains(method) {
            merged.push(*method);
        }
    }
    merged
}

/// The `aal` and `amr` a session carries; a refresh keeps them unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assurance {
    pub aal: Aal,
    pub amr: Vec<AuthMethod>,
}

impl Assurance {
    /// The assurance of a fresh sign-in that used `methods`.
    pub fn from_methods(methods: &[AuthMethod], passkey_user_verified: bool) -> Self {
        Self { aal: Aal::from_methods(methods, passkey_user_verified), amr: merge_methods(methods, &[]) }
    }

    /// The assurance after the session proves `added` as well. The level never drops: a
    /// session that reached aal2 with a verified passkey alone stays aal2 when it adds a TOTP
    /// code, although `[hwk, otp]` without the UV flag would only be aal1.
    pub fn step_up(&self, added: &[AuthMethod], passkey_user_verified: bool) -> Self {
        let amr = merge_methods(&self.amr, added);
        let aal = self.aal.max(Aal::from_methods(&amr, passkey_user_verified));
        Self { aal, amr }
    }

    /// A password sign-in.
    pub fn password() -> Self {
        Self::from_methods(&[AuthMethod::Pwd], false)
    }

    /// A sign-in through a social provider.
    pub fn federated() -> Self {
        Self::from_methods(&[AuthMethod::Fed], false)
    }

    /// How a store keeps it: the level, and the methods separated by spaces.
    pub fn amr_column(&self) -> String {
        self.amr.iter().map(|method| method.as_str()).collect::<Vec<_>>().join(" ")
    }

    /// Reads what [`Self::amr_column`] and [`Aal::as_str`] wrote.
    pub fn from_columns(aal: &str, amr: &str) -> Result<Self, UnknownName> {
        let amr = amr.split_whitespace().map(str::parse).collect::<Result<Vec<AuthMethod>, _>>()?;
        Ok(Self { aal: aal.parse()?, amr })
    }
}

#[cfg(test)]
mod tests {
    use super::AuthMethod::{Fed, Hwk, Otp, Pwd};
    use super::*;

    #[test]
    fn a_first_factor_with_a_possession_factor_reaches_aal2() {
        for methods in [[Pwd, Otp], [Otp, Pwd], [Pwd, Hwk], [Fed, Otp], [Fed, Hwk]] {
            assert_eq!(Aal::from_methods(&methods, false), Aal::Aal2, "{methods:?}");
        }
    }

    #[test]
    fn one_kind_of_factor_stays_aal1_however_often_it_is_used() {
        for methods in [&[Pwd][..], &[Fed], &[Otp], &[Hwk], &[Pwd, Fed], &[Otp, Hwk], &[Pwd, Pwd], &[]] {
            assert_eq!(Aal::from_methods(methods, false), Aal::Aal1, "{methods:?}");
        }
    }

    #[test]
    fn a_passkey_reaches_aal2_alone_only_when_it_verified_its_user() {
        assert_eq!(Aal::from_methods(&[Hwk], true), Aal::Aal2);
        assert_eq!(Aal::from_methods(&[Hwk], false), Aal::Aal1);
        // The flag speaks about a passkey; without one it proves nothing.
        assert_eq!(Aal::from_methods(&[Pwd], true), Aal::Aal1);
        assert_eq!(Aal::from_methods(&[Otp], true), Aal::Aal1);
    }

    #[test]
    fn aal2_outranks_aal1() {
        assert!(Aal::Aal2 > Aal::Aal1);
        assert_eq!([Aal::Aal2, Aal::Aal1].into_iter().max(), Some(Aal::Aal2));
    }

    #[test]
    fn levels_and_methods_use_their_registered_names() {
        for (aal, name) in [(Aal::Aal1, "aal1"), (Aal::Aal2, "aal2")] {
            assert_eq!(serde_json::to_string(&aal).unwrap(), format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Aal>(&format!("\"{name}\"")).unwrap(), aal);
            assert_eq!((aal.as_str(), aal.to_string()), (name, name.to_owned()));
            assert_eq!(name.parse::<Aal>().unwrap(), aal);
        }
        for (method, name) in [(Pwd, "pwd"), (Otp, "otp"), (Hwk, "hwk"), (Fed, "fed")] {
            assert_eq!(serde_json::to_string(&method).unwrap(), format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<AuthMethod>(&format!("\"{name}\"")).unwrap(), method);
            assert_eq!(method.as_str(), name);
            assert_eq!(name.parse::<AuthMethod>().unwrap(), method);
        }
        assert!("AAL2".parse::<Aal>().is_err());
        assert!("aal3".parse::<Aal>().is_err());
        assert!("PWD".parse::<AuthMethod>().is_err());
        assert!("mfa".parse::<AuthMethod>().is_err());
    }

    #[test]
    fn merging_methods_keeps_first_use_order_and_drops_repeats() {
        assert_eq!(merge_methods(&[Pwd], &[Otp]), [Pwd, Otp]);
        assert_eq!(merge_methods(&[Fed, Otp], &[Otp, Hwk, Fed]), [Fed, Otp, Hwk]);
        assert_eq!(merge_methods(&[Pwd, Pwd], &[]), [Pwd]);
        assert_eq!(merge_methods(&[], &[Hwk]), [Hwk]);
    }

    #[test]
    fn stepping_up_a_password_session_with_a_code_reaches_aal2() {
        let signed_in = Assurance::from_methods(&[Pwd], false);
        assert_eq!(signed_in, Assurance { aal: Aal::Aal1, amr: vec![Pwd] });

        let stepped_up = signed_in.step_up(&[Otp], false);
        assert_eq!(stepped_up, Assurance { aal: Aal::Aal2, amr: vec![Pwd, Otp] });
    }

    #[test]
    fn stepping_up_never_lowers_the_level() {
        let passkey_session = Assurance::from_methods(&[Hwk], true);
        assert_eq!(passkey_session.aal, Aal::Aal2);

        let stepped_up = passkey_session.step_up(&[Otp], false);
        assert_eq!(stepped_up, Assurance { aal: Aal::Aal2, amr: vec![Hwk, Otp] });
    }

    #[test]
    fn assurance_survives_the_store_columns() {
        let stepped = Assurance::password().step_up(&[Otp], false);
        let read = Assurance::from_columns(stepped.aal.as_str(), &stepped.amr_column()).unwrap();
        assert_eq!(read, Assurance { aal: Aal::Aal2, amr: vec![Pwd, Otp] });
        assert_eq!(Assurance::from_columns("aal1", "").unwrap().amr, []);
        assert!(Assurance::from_columns("aal3", "pwd").is_err());
        assert!(Assurance::from_columns("aal1", "pwd sms").is_err());
    }
}

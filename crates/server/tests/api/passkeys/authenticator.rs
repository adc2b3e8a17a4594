//! A software passkey: a discoverable ES256 credential with `none` attestation, a signature
//! counter and user verification (which can be turned off, as a security key without a PIN),
//! speaking the WebAuthn Level 3 JSON forms. It signs for
//! whichever origin it is told it runs in, so tests can play a phishing page; `Clone` copies the
//! key and the counter, as a cloned authenticator would.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto_glue::ecdsa_p256::EcdsaP256SigningKey;
use crypto_glue::ecdsa_p256::{self, EcdsaP256PrivateKey, EcdsaP256PublicSec1Point, EcdsaP256Signature};
use crypto_glue::traits::Signer;
use serde_cbor_2::value::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const ATTESTED_CREDENTIAL_DATA: u8 = 0x40;

#[derive(Clone)]
pub struct SoftPasskey {
    /// The origin the "browser" reports in clientDataJSON.
    pub origin: String,
    /// Whether it sets the UV flag: it checked a PIN or a biometric.
    pub verifies_user: bool,
    credential: Option<Credential>,
}

#[derive(Clone)]
struct Credential {
    id: Vec<u8>,
    key: EcdsaP256PrivateKey,
    user_handle: Vec<u8>,
    counter: u32,
}

fn decode(value: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(value.as_str().expect("a base64url string").trim_end_matches('=')).expect("base64url")
}

fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn client_data(kind: &str, challenge: &Value, origin: &str) -> Vec<u8> {
    let challenge = encode(&decode(challenge));
    serde_json::to_vec(&json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false})).unwrap()
}

impl SoftPasskey {
    pub fn new(origin: &str) -> Self {
        Self { origin: origin.to_owned(), verifies_user: true, credential: None }
    }

    /// A key that only proves presence (a touch), never its user.
    pub fn without_user_verification(origin: &str) -> Self {
        Self { verifies_user: false, ..Self::new(origin) }
    }

    fn flags(&self) -> u8 {
        if self.verifies_user { USER_PRESENT | USER_VERIFIED } else { USER_PRESENT }
    }

    /// The same key and counter, answering for another origin.
    pub fn at_origin(&self, origin: &str) -> Self {
        Self { origin: origin.to_owned(), ..self.clone() }
    }

    /// `navigator.credentials.create()` for the `{"publicKey": ...}` options: the credential's
    /// `toJSON()`.
    pub fn register(&mut self, options: &Value) -> Value {
        let options = &options["publicKey"];
        let rp_id = options["rp"]["id"].as_str().expect("rp.id");
        let key = ecdsa_p256::new_key();
        let point = EcdsaP256PublicSec1Point::from(key.public_key());
        let mut cose = BTreeMap::new();
        cose.insert(Cbor::Integer(1), Cbor::Integer(2)); // kty: EC2
        cose.insert(Cbor::Integer(3), Cbor::Integer(-7)); // alg: ES256
        cose.insert(Cbor::Integer(-1), Cbor::Integer(1)); // crv: P-256
        cose.insert(Cbor::Integer(-2), Cbor::Bytes(point.x().unwrap().to_vec()));
        cose.insert(Cbor::Integer(-3), Cbor::Bytes(point.y().unwrap().to_vec()));
        let cose = serde_cbor_2::to_vec(&Cbor::Map(cose)).unwrap();
        let id: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();

        let mut authenticator_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        authenticator_data.push(self.flags() | ATTESTED_CREDENTIAL_DATA);
        authenticator_data.extend_from_slice(&0u32.to_be_bytes());
        authenticator_data.extend_from_slice(&[0; 16]); // AAGUID
        authenticator_data.extend_from_slice(&u16::try_from(id.len()).unwrap().to_be_bytes());
        authenticator_data.extend_from_slice(&id);
        authenticator_data.extend_from_slice(&cose);
        let mut attestation = BTreeMap::new();
        attestation.insert(Cbor::Text("fmt".into()), Cbor::Text("none".into()));
        attestation.insert(Cbor::Text("attStmt".into()), Cbor::Map(BTreeMap::new()));
        attestation.insert(Cbor::Text("authData".into()), Cbor::Bytes(authenticator_data));
        let attestation = serde_cbor_2::to_vec(&Cbor::Map(attestation)).unwrap();

        let client_data = client_data("webauthn.create", &options["challenge"], &self.origin);
        self.credential =
            Some(Credential { id: id.clone(), key, user_handle: decode(&options["user"]["id"]), counter: 0 });
        json!({
            "id": encode(&id),
            "rawId": encode(&id),
            "type": "public-key",
            "response": {
                "clientDataJSON": encode(&client_data),
                "attestationObject": encode(&attestation),
                "transports": ["internal"],
            },
            "extensions": {},
        })
    }

    /// `navigator.credentials.get()` for the `{"publicKey": ...}` options: the assertion's
    /// `toJSON()`, with the counter moved forward.
    pub fn assert(&mut self, options: &Value) -> Value {
        let options = &options["publicKey"];
        let rp_id = options["rpId"].as_str().expect("rpId");
        let (origin, flags) = (self.origin.clone(), self.flags());
        let credential = self.credential.as_mut().expect("a registered credential");
        credential.counter += 1;
        let mut authenticator_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        authenticator_data.push(flags);
        authenticator_data.extend_from_slice(&credential.counter.to_be_bytes());
        let client_data = client_data("webauthn.get", &options["challenge"], &origin);
        let mut signed = authenticator_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: EcdsaP256Signature = EcdsaP256SigningKey::from(&credential.key).try_sign(&signed).unwrap();
        json!({
            "id": encode(&credential.id),
            "rawId": encode(&credential.id),
            "type": "public-key",
            "response": {
                "authenticatorData": encode(&authenticator_data),
                "clientDataJSON": encode(&client_data),
                "signature": encode(&signature.to_der().to_bytes()),
                "userHandle": encode(&credential.user_handle),
            },
            "extensions": {},
        })
    }
}

/// The assertion with one bit of its signature flipped.
pub fn tampered(mut assertion: Value) -> Value {
    let mut signature = decode(&assertion["response"]["signature"]);
    let last = signature.len() - 1;
    signature[last - 3] ^= 0x01;
    assertion["response"]["signature"] = json!(encode(&signature));
    assertion
}

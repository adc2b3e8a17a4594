//! Second factors: status, TOTP enrolment and removal, recovery codes, and finishing a sign-in
//! that answered `mfa_required`.

use auth_core::DomainError;
use auth_core::mfa::{PendingSecondFactor, SecondFactorMethod, SecondFactorProof, SignInStep};
use auth_core::redact::Secret;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::accounts::{TokenPairResponse, client_info};
use super::error::{ApiError, Problem};
use super::extract::{AppJson, AuthUser, ClientAddress, bearer_token};
use super::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatusResponse {
    /// A confirmed TOTP factor.
    pub totp: bool,
    pub passkeys: u32,
    pub recovery_codes_left: u32,
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrolmentResponse {
    /// Base32, for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/...` (SHA-1, 6 digits, 30 s).
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// Shown once; the service keeps only hashes.
impl std::fmt::Debug for TotpEnrolmentResponse {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("TotpEnrolmentResponse([redacted])")
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaCodeRequest {
    /// The six digits the authenticator app shows.
    #[schema(value_type = String, example = "123456")]
    pub code: Secret,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// Ten single-use codes, shown this once; `null` when the user already had a second factor.
    #[schema(value_type = Option<Vec<String>>)]
    pub recovery_codes: Option<Vec<Secret>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaVerifyRequest {
    /// From the `mfa_required` answer of a sign-in.
    #[schema(value_type = String)]
    pub mfa_token: Option<Secret>,
    #[schema(value_type = String, example = "totp")]
    pub method: SecondFactorMethod,
    /// The TOTP code or a recovery code.
    #[schema(value_type = Option<String>)]
    pub code: Option<Secret>,
    /// For `webauthn`: `PublicKeyCredential.toJSON()` of the assertion answering
    /// `/auth/mfa/webauthn/options`.
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}

/// The `mfa_required` answer of a sign-in (200, no session yet).
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequiredResponse {
    #[schema(example = true)]
    pub mfa_required: bool,
    #[schema(value_type = String)]
    pub mfa_token: Secret,
    /// What the user can finish with: `totp`, `webauthn`, `recovery_code`.
    #[schema(value_type = Vec<String>)]
    pub methods: Vec<SecondFactorMethod>,
    #[schema(example = 300)]
    pub expires_in: u64,
}

impl From<PendingSecondFactor> for MfaRequiredResponse {
    fn from(pending: PendingSecondFactor) -> Self {
        Self {
            mfa_required: true,
            mfa_token: pending.mfa_token,
            methods: pending.methods,
            expires_in: pending.expires_in,
        }
    }
}

/// A session's pair, or `mfa_required`.
pub fn sign_in_response(step: SignInStep) -> Response {
    match step {
        SignInStep::SignedIn(pair) => Json(TokenPairResponse::from(pair)).into_response(),
        SignInStep::SecondFactorRequired(pending) => Json(MfaRequiredResponse::from(pending)).into_response(),
    }
}

/// The signed-in user's second factors.
#[utoipa::path(get, path = "/auth/mfa", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, body = MfaStatusResponse), (status = 401, body = Problem)))]
pub async fn status(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<MfaStatusResponse>, ApiError> {
    let factors = state.mfa.status(claims.sub).await?;
    Ok(Json(MfaStatusResponse {
        totp: factors.totp,
        passkeys: factors.passkeys,
        recovery_codes_left: factors.recovery_codes_left,
    }))
}

/// Start a TOTP enrolment: not active until a code confirms it.
#[utoipa::path(post, path = "/auth/mfa/totp", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, body = TotpEnrolmentResponse), (status = 401, body = Problem),
              (status = 403, body = Problem, description = "mfa_required: the user has a second factor and the token is aal1"),
              (status = 409, body = Problem, description = "mfa_already_enabled: remove the confirmed factor first")))]
pub async fn begin_totp(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<TotpEnrolmentResponse>, ApiError> {
    let enrolment = state.mfa.begin_totp(claims.sub, claims.aal).await?;
    Ok(Json(TotpEnrolmentResponse {
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
        qr_svg: enrolment.qr_svg,
    }))
}

/// Confirm the TOTP enrolment with a code; the first second factor comes with recovery codes.
#[utoipa::path(post, path = "/auth/mfa/totp/confirm", tag = "mfa", request_body = MfaCodeRequest,
    security(("bearer" = [])),
    responses((status = 200, body = RecoveryCodesResponse), (status = 401, body = Problem, description = "invalid_mfa_code"),
              (status = 404, body = Problem, description = "no enrolment pending")))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    AppJson(body): AppJson<MfaCodeRequest>,
) -> Result<Json<RecoveryCodesResponse>, ApiError> {
    let codes = state.mfa.confirm_totp(claims.sub, &body.code).await?;
    Ok(Json(RecoveryCodesResponse { recovery_codes: codes.map(|codes| codes.into_iter().map(Secret::new).collect()) }))
}

/// Remove the TOTP factor (needs an `aal2` token).
#[utoipa::path(delete, path = "/auth/mfa/totp", tag = "mfa", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem, description = "mfa_required"), (status = 404, body = Problem)))]
pub async fn remove_totp(State(state): State<AppState>, AuthUser(claims): AuthUser) -> Result<StatusCode, ApiError> {
    state.mfa.remove_totp(claims.sub, claims.aal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ten new recovery codes (needs an `aal2` token); the old ones stop working.
#[utoipa::path(post, path = "/auth/mfa/recovery-codes", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, body = RecoveryCodesResponse), (status = 403, body = Problem, description = "mfa_required"),
              (status = 409, body = Problem, description = "mfa_not_enabled")))]
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<RecoveryCodesResponse>, ApiError> {
    let codes = state.mfa.regenerate_recovery_codes(claims.sub, claims.aal).await?;
    Ok(Json(RecoveryCodesResponse { recovery_codes: Some(codes.into_iter().map(Secret::new).collect()) }))
}

/// Finish a sign-in that answered `mfa_required`: a token pair at `aal2`. Without `mfa_token`
/// but with `Authorization: Bearer`, steps that session up to `aal2` and returns a new pair for it.
#[utoipa::path(post, path = "/auth/mfa/verify", tag = "mfa", request_body = MfaVerifyRequest,
    responses((status = 200, body = TokenPairResponse),
              (status = 401, body = Problem, description = "invalid_mfa_code, or invalid_token for an unknown, expired, spent or exhausted mfa_token"),
              (status = 422, body = Problem), (status = 429, body = Problem, description = "the account cools off")))]
pub async fn verify(
    State(state): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    AppJson(body): AppJson<MfaVerifyRequest>,
) -> Result<Json<TokenPairResponse>, ApiError> {
    let code = || body.code.as_deref().ok_or_else(|| ApiError::from(DomainError::invalid_field("code", "is required")));
    let credential = body.credential.as_ref().map(serde_json::Value::to_string);
    let proof = match body.method {
        SecondFactorMethod::Totp => SecondFactorProof::Totp(code()?),
        SecondFactorMethod::RecoveryCode => SecondFactorProof::RecoveryCode(code()?),
        SecondFactorMethod::Webauthn => match credential.as_deref() {
            Some(credential) => SecondFactorProof::Webauthn(credential),
            None => return Err(DomainError::invalid_field("credential", "is required").into()),
        },
    };
    let pair = match (body.mfa_token, bearer_token(&headers)) {
        (Some(mfa_token), _) => state.mfa.verify(&mfa_token, proof, client_info(&headers, address)).await?,
        // No mfa_token but a signed-in session: a step-up of that session.
        (None, Some(access_token)) => {
            let claims = state.sessions.authenticate(access_token)?;
            state.mfa.step_up(&claims, proof).await?
        }
        (None, None) => return Err(DomainError::invalid_field("mfa_token", "is required").into()),
    };
    Ok(Json(pair.into()))
}

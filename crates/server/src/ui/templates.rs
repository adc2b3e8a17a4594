//! The page templates, compiled into the binary.

/// Every template, by name: the layout, the pages, and the partials they include.
pub const SOURCES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("mfa.html", include_str!("templates/mfa.html")),
    ("register.html", include_str!("templates/register.html")),
    ("notice.html", include_str!("templates/notice.html")),
    ("verify_email.html", include_str!("templates/verify_email.html")),
    ("forgot_password.html", include_str!("templates/forgot_password.html")),
    ("reset_password.html", include_str!("templates/reset_password.html")),
    ("account.html", include_str!("templates/account.html")),
    ("totp.html", include_str!("templates/totp.html")),
    ("recovery_codes.html", include_str!("templates/recovery_codes.html")),
    ("admin.html", include_str!("templates/admin.html")),
    ("admin_user.html", include_str!("templates/admin_user.html")),
    ("consent.html", include_str!("templates/consent.html")),
    ("admin_clients.html", include_str!("templates/admin_clients.html")),
];

/// The environment with every template loaded; a template that does not parse fails start-up
/// (and the unit test below), never a request.
pub fn environment() -> Result<minijinja::Environment<'static>, minijinja::Error> {
    let mut environment = minijinja::Environment::new();
    for (name, source) in SOURCES {
        environment.add_template(name, source)?;
    }
    Ok(environment)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_parses() {
        super::environment().unwrap();
    }
}

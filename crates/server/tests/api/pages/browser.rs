//! A minimal cookie-keeping client for the page tests: it keeps cookies as a browser would
//! (Set-Cookie in, Cookie out, Max-Age=0 removes), remembers the CSRF token of the last page,
//! and sends `Origin` like a browser posting a form of the page it shows.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};

use crate::helpers::TestApp;

pub struct Browser<'a> {
    app: &'a TestApp,
    pub cookies: BTreeMap<String, String>,
    csrf: Option<String>,
    pub origin: String,
}

/// One answer: status, `Location`, the raw `Set-Cookie` lines and the body.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Page {
    pub fn has(&self, needle: &str) -> bool {
        self.body.contains(needle)
    }

    /// The `Set-Cookie` line of `name`, if this answer set it.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies.iter().find(|line| line.starts_with(&format!("{name}="))).map(String::as_str)
    }
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self { app, cookies: BTreeMap::new(), csrf: None, origin: app.address.clone() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ")
    }

    async fn read(&mut self, response: reqwest::Response) -> Page {
        let status = response.status();
        let location = response.headers().get(LOCATION).map(|value| value.to_str().unwrap().to_owned());
        let set_cookies: Vec<String> =
            response.headers().get_all(SET_COOKIE).iter().map(|value| value.to_str().unwrap().to_owned()).collect();
        for line in &set_cookies {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if line.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let body = response.text().await.unwrap();
        if let Some(token) = csrf_in(&body) {
            self.csrf = Some(token);
        }
        Page { status, location, set_cookies, body }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.app.client.get(self.app.url(path)).header(COOKIE, self.cookie_header());
        let response = request.send().await.unwrap();
        self.read(response).await
    }

    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut request = self.app.client.get(self.app.url(path)).header(COOKIE, self.cookie_header());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        self.read(response).await
    }

    /// Posts a form of the last page shown, with its CSRF token.
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone().expect("a page with a form was shown first");
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", &csrf));
        self.post_form(path, &form).await
    }

    /// Posts exactly `fields`, from this browser's origin.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self
            .app
            .client
            .post(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .header(ORIGIN, self.origin.clone())
            .form(fields);
        let response = request.send().await.unwrap();
        self.read(response).await
    }

    pub fn csrf(&self) -> String {
        self.csrf.clone().expect("a page was shown")
    }

    /// Signs in through the login page; the answer to the password form.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let page = self.get("/ui/login").await;
        assert_eq!(page.status, StatusCode::OK);
        self.submit("/ui/login", &[("email", email), ("password", password)]).await
    }
}

fn csrf_in(body: &str) -> Option<String> {
    let start = body.find("name=\"csrf-token\" content=\"")? + "name=\"csrf-token\" content=\"".len();
    Some(body[start..].split('"').next()?.to_owned())
}

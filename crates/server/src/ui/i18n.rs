//! The pages' languages: every string lives in `messages/{en,ru}.toml`, never in code or
//! templates. The language comes from `?lang=` (then remembered in a cookie), the cookie, or
//! `Accept-Language`.

use std::collections::BTreeMap;
use std::sync::Arc;

use auth_core::accounts::email_flows::language_from_accept_language;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ru];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "en" => Some(Lang::En),
            "ru" => Some(Lang::Ru),
            _ => None,
        }
    }

    /// An explicit choice wins over the remembered one, which wins over the browser's.
    pub fn negotiate(query: Option<&str>, remembered: Option<&str>, accept_language: Option<&str>) -> Self {
        query
            .and_then(Self::parse)
            .or_else(|| remembered.and_then(Self::parse))
            .or_else(|| Self::parse(language_from_accept_language(accept_language)))
            .unwrap_or(Lang::En)
    }
}

/// A language's messages, flattened: `[login] title = ".."` is `login.title`.
pub type Catalog = Arc<BTreeMap<String, String>>;

#[derive(Debug, Clone)]
pub struct Messages {
    en: Catalog,
    ru: Catalog,
}

impl Messages {
    pub fn load() -> Result<Self, String> {
        Ok(Self {
            en: Arc::new(flatten(include_str!("messages/en.toml"))?),
            ru: Arc::new(flatten(include_str!("messages/ru.toml"))?),
        })
    }

    pub fn catalog(&self, lang: Lang) -> Catalog {
        match lang {
            Lang::En => self.en.clone(),
            Lang::Ru => self.ru.clone(),
        }
    }
}

/// The message `key` of `catalog`; an unknown error code falls back to the generic error, any
/// other unknown key shows itself (the unit tests keep templates and catalogs in step).
pub fn lookup(catalog: &BTreeMap<String, String>, key: &str) -> String {
    if let Some(text) = catalog.get(key) {
        return text.clone();
    }
    if key.starts_with("errors.")
        && let Some(text) = catalog.get("errors.generic")
    {
        return text.clone();
    }
    key.to_owned()
}

fn flatten(source: &str) -> Result<BTreeMap<String, String>, String> {
    let table: toml::Table = source.parse().map_err(|error| format!("message file: {error}"))?;
    let mut flat = BTreeMap::new();
    for (section, values) in table {
        let toml::Value::Table(values) = values else { return Err(format!("message file: {section} is not a table")) };
        for (key, value) in values {
            let toml::Value::String(text) = value else { return Err(format!("message {section}.{key} is not text")) };
            flat.insert(format!("{section}.{key}"), text);
        }
    }
    Ok(flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_the_same_keys() {
        let en = flatten(include_str!("messages/en.toml")).unwrap();
        let ru = flatten(include_str!("messages/ru.toml")).unwrap();
        let only_en: Vec<_> = en.keys().filter(|key| !ru.contains_key(*key)).collect();
        let only_ru: Vec<_> = ru.keys().filter(|key| !en.contains_key(*key)).collect();
        assert!(only_en.is_empty() && only_ru.is_empty(), "only in en: {only_en:?}; only in ru: {only_ru:?}");
    }

    #[test]
    fn every_key_a_template_uses_is_in_the_catalog() {
        let en = flatten(include_str!("messages/en.toml")).unwrap();
        for (name, source) in super::super::templates::SOURCES {
            let mut rest = *source;
            while let Some(start) = rest.find("t(\"") {
                rest = &rest[start + 3..];
                let end = rest.find('"').unwrap();
                let (key, after) = (&rest[..end], &rest[end + 1..]);
                // `t("notice." ~ notice ~ "_title")` builds its key at render time.
                if after.starts_with(')') {
                    assert!(en.contains_key(key), "{name} uses {key}, which en.toml lacks");
                }
            }
        }
    }

    #[test]
    fn the_choice_in_the_query_beats_the_cookie_which_beats_the_browser() {
        assert_eq!(Lang::negotiate(Some("ru"), Some("en"), Some("en")), Lang::Ru);
        assert_eq!(Lang::negotiate(None, Some("ru"), Some("en")), Lang::Ru);
        assert_eq!(Lang::negotiate(Some("xx"), None, Some("ru-RU,ru;q=0.9")), Lang::Ru);
        assert_eq!(Lang::negotiate(None, None, None), Lang::En);
    }

    #[test]
    fn an_unknown_error_code_shows_the_generic_error() {
        let en = flatten(include_str!("messages/en.toml")).unwrap();
        assert_eq!(lookup(&en, "errors.something_new"), en["errors.generic"]);
    }
}

//! The configuration keys the PAM decisions use, per domain.

use super::credentials::OfflineRules;
use super::hasher::HashCost;
use crate::config::Config;
use std::collections::HashMap;

/// PAM settings of one domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainAuth {
    /// `cache_credentials`: allow offline logins with a cached hash.
    pub cache_credentials: bool,
    /// `offline_max_age`, `offline_failed_login_attempts`,
    /// `offline_failed_login_delay`.
    pub offline: OfflineRules,
    /// `allow_groups`: only their members may log in (empty: everyone).
    pub allow_groups: Vec<String>,
    /// `access_filter`: the user's entry must match it.
    pub access_filter: Option<String>,
    /// `pwd_expiration_warning`: days before expiry from which a login
    /// warns (0: never).
    pub pwd_expiration_warning: u32,
}

impl Default for DomainAuth {
    fn default() -> Self {
        DomainAuth {
            cache_credentials: false,
            offline: OfflineRules {
                max_age_secs: 604_800,
                attempts: 3,
                delay_secs: 300,
            },
            allow_groups: Vec::new(),
            access_filter: None,
            pwd_expiration_warning: 7,
        }
    }
}

/// PAM settings of every enabled domain, by domain name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthSettings {
    /// Per domain.
    pub domains: HashMap<String, DomainAuth>,
    /// `[cache] credential_hash_memory_kib` and `credential_hash_iterations`.
    pub hash_cost: HashCost,
}

impl AuthSettings {
    /// The PAM settings of `cfg`'s enabled domains.
    pub fn from_config(cfg: &Config) -> AuthSettings {
        let domains = cfg
            .enabled_domains()
            .map(|d| {
                let auth = DomainAuth {
                    cache_credentials: d.cache_credentials,
                    offline: OfflineRules {
                        max_age_secs: cfg.cache.offline_max_age,
                        attempts: d.offline_failed_login_attempts,
                        delay_secs: d.offline_failed_login_delay.saturating_mul(60),
                    },
                    allow_groups: d.allow_groups.clone(),
                    access_filter: d.access_filter.clone().filter(|f| !f.trim().is_empty()),
                    pwd_expiration_warning: d.pwd_expiration_warning,
                };
                (d.name.clone(), auth)
            })
            .collect();
        let hash_cost = HashCost {
            memory_kib: cfg.cache.credential_hash_memory_kib,
            iterations: cfg.cache.credential_hash_iterations,
        };
        AuthSettings { domains, hash_cost }
    }

    /// The settings of `domain` (defaults when it is not configured).
    pub fn domain(&self, domain: &str) -> DomainAuth {
        self.domains.get(domain).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<Config, crate::config::ConfigError> {
        Config::from_str(
            &format!(
                "[cache]\noffline_max_age = 3600\n\n[[domain]]\nname = \"example\"\n\
                 uris = [\"ldaps://127.0.0.1\"]\nbase_dn = \"dc=example,dc=test\"\n{extra}"
            ),
            "test.toml",
        )
    }

    #[test]
    fn defaults_and_every_key() {
        let a = AuthSettings::from_config(&config("").unwrap()).domain("example");
        assert!(!a.cache_credentials);
        assert_eq!(
            a.offline,
            OfflineRules {
                max_age_secs: 3600,
                attempts: 3,
                delay_secs: 300
            }
        );
        assert!(a.allow_groups.is_empty() && a.access_filter.is_none());
        assert_eq!(a.pwd_expiration_warning, 7);
        let a = AuthSettings::from_config(
            &config(
                "cache_credentials = true\noffline_failed_login_attempts = 5\n\
                 offline_failed_login_delay = 2\nallow_groups = [\"staff\"]\n\
                 access_filter = \"(host=web1)\"\npwd_expiration_warning = 0\n",
            )
            .unwrap(),
        )
        .domain("example");
        assert!(a.cache_credentials);
        assert_eq!((a.offline.attempts, a.offline.delay_secs), (5, 120));
        assert_eq!(a.allow_groups, vec!["staff"]);
        assert_eq!(a.access_filter.as_deref(), Some("(host=web1)"));
        assert_eq!(a.pwd_expiration_warning, 0);
    }

    #[test]
    fn lifecycle_keys_are_checked_at_load() {
        let c =
            config("ppolicy_default_dn = \"cn=default,ou=policies,dc=example,dc=test\"\n").unwrap();
        assert_eq!(
            c.domains[0].ppolicy_default_dn.as_deref(),
            Some("cn=default,ou=policies,dc=example,dc=test")
        );
        assert_eq!(c.domains[0].pwd_expiration_warning, 7);
        let e = config("ppolicy_default_dn = \"not a dn\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ppolicy_default_dn") && e.contains("not a DN"),
            "{e}"
        );
        let e = config("pwd_expiration_warning = 5000\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pwd_expiration_warning"), "{e}");
    }

    #[test]
    fn bad_access_filter_and_empty_group_are_refused_at_load() {
        let e = config("access_filter = \"(host=web1\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("access_filter"), "{e}");
        let e = config("allow_groups = [\"\"]\n").unwrap_err().to_string();
        assert!(e.contains("allow_groups"), "{e}");
    }
}

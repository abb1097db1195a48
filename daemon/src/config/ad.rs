//! Defaults of `kind = "ad"` domains: keys the file leaves unset take the
//! Active Directory ones (sAMAccountName, AD object classes, AD's
//! MaxPageSize, TLS). A key the administrator wrote is kept, even when its
//! value equals the LDAP default.

use super::defaults::ExplicitKeys;
use super::domain::DomainConfig;

/// The default user filter of AD domains.
pub const AD_USER_FILTER: &str = "(&(objectClass=user)(objectCategory=person))";
/// The default group filter of AD domains.
pub const AD_GROUP_FILTER: &str = "(objectClass=group)";
/// AD's MaxPageSize: the page size of AD domains unless configured.
pub const AD_PAGE_SIZE: u32 = 1000;
/// Applies the AD defaults to `d` (a `kind = "ad"` domain) for the keys
/// `explicit` does not list: filters, attribute names, the page size, and
/// TLS (StartTLS on `ldap://` URIs: AD refuses simple binds on plain LDAP
/// when it requires strong authentication, and passwords must not travel
/// in clear text).
pub(crate) fn apply_defaults(d: &mut DomainConfig, explicit: &ExplicitKeys) {
    if !explicit.has("user_filter") {
        d.user_filter = AD_USER_FILTER.to_string();
    }
    if d.group_filter.is_none() {
        d.group_filter = Some(AD_GROUP_FILTER.to_string());
    }
    if !explicit.has("page_size") {
        d.page_size = AD_PAGE_SIZE;
    }
    let a = &mut d.attributes;
    for (key, attr, ad) in [
        ("username", &mut a.username, "sAMAccountName"),
        ("group_name", &mut a.group_name, "sAMAccountName"),
        ("home_directory", &mut a.home_directory, "unixHomeDirectory"),
    ] {
        if !explicit.has_attribute(key) {
            *attr = ad.to_string();
        }
    }
    // Group names are compared with the served names (lower case, `_` for
    // spaces, `@domain` when qualified).
    let (qualified, domain) = (d.qualified_names, d.name.clone());
    for g in &mut d.limit_to_groups {
        let short = g.split('@').next().unwrap_or(g).to_string();
        *g = crate::directory::ad::mapping::output_name(&short, qualified, &domain);
    }
    if !explicit.has("start_tls")
        && d.uris
            .iter()
            .any(|u| u.to_ascii_lowercase().starts_with("ldap://"))
    {
        d.start_tls = true;
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, DomainKind};

    fn parse(extra: &str) -> Config {
        let text = format!(
            "[[domain]]\nname = \"ad\"\nkind = \"ad\"\nuris = [\"ldap://dc1.ad.example.test\"]\nbase_dn = \"DC=ad,DC=example,DC=test\"\n{extra}\n"
        );
        Config::from_str(&text, "roster.toml").unwrap()
    }

    #[test]
    fn ad_domains_get_ad_defaults_and_tls() {
        let c = parse("");
        let d = &c.domains[0];
        assert_eq!(d.kind, DomainKind::Ad);
        assert_eq!(d.user_filter, super::AD_USER_FILTER);
        assert_eq!(d.group_filter(), super::AD_GROUP_FILTER);
        assert_eq!(d.attributes.username, "sAMAccountName");
        assert_eq!(d.attributes.group_name, "sAMAccountName");
        assert_eq!(d.attributes.home_directory, "unixHomeDirectory");
        assert_eq!(d.page_size, super::AD_PAGE_SIZE);
        assert!(d.start_tls, "ldap:// URIs of AD domains use StartTLS");
        assert!(!d.qualified_names);
    }

    #[test]
    fn explicit_keys_win_over_ad_defaults() {
        let c = parse(
            "user_filter = \"(objectClass=person)\"\npage_size = 200\nqualified_names = true\n[domain.attributes]\nusername = \"userPrincipalName\"\n",
        );
        let d = &c.domains[0];
        assert_eq!(d.user_filter, "(objectClass=person)");
        assert_eq!(d.page_size, 200);
        assert_eq!(d.attributes.username, "userPrincipalName");
        assert!(d.qualified_names);
    }

    #[test]
    fn explicit_values_equal_to_the_ldap_defaults_are_kept() {
        // The LDAP defaults written out: an AD default must not replace
        // them (it used to, as the values looked "unset").
        let c = parse(
            "user_filter = \"(objectClass=posixAccount)\"\npage_size = 500\n[domain.attributes]\nusername = \"uid\"\nhome_directory = \"homeDirectory\"\n",
        );
        let d = &c.domains[0];
        assert_eq!(d.page_size, 500);
        assert_eq!(d.user_filter, "(objectClass=posixAccount)");
        assert_eq!(d.attributes.username, "uid");
        assert_eq!(d.attributes.home_directory, "homeDirectory");
        // Keys left unset still get the AD defaults.
        assert_eq!(d.attributes.group_name, "sAMAccountName");
        assert_eq!(d.group_filter(), super::AD_GROUP_FILTER);
        let tls = parse("start_tls = false\nallow_insecure_auth = true\n");
        assert!(
            !tls.domains[0].start_tls,
            "an explicit start_tls = false is kept"
        );
    }

    #[test]
    fn limit_to_groups_names_are_the_served_names() {
        let c = parse("limit_to_groups = [\"Linux Users\", \"Admins@ad\"]");
        assert_eq!(c.domains[0].limit_to_groups, ["linux_users", "admins"]);
        let c = parse("qualified_names = true\nlimit_to_groups = [\"Linux Users\"]");
        assert_eq!(c.domains[0].limit_to_groups, ["linux_users@ad"]);
    }
}

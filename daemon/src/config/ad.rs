//! Defaults of `kind = "ad"` domains: keys left at their LDAP defaults take
//! the Active Directory ones (sAMAccountName, AD object classes, AD's
//! MaxPageSize, TLS).

use super::domain::{AttributeMap, DomainConfig};

/// The default user filter of AD domains.
pub const AD_USER_FILTER: &str = "(&(objectClass=user)(objectCategory=person))";
/// The default group filter of AD domains.
pub const AD_GROUP_FILTER: &str = "(objectClass=group)";
/// AD's MaxPageSize: the page size of AD domains unless configured.
pub const AD_PAGE_SIZE: u32 = 1000;
/// The LDAP defaults that AD domains replace.
const LDAP_USER_FILTER: &str = "(objectClass=posixAccount)";
const LDAP_PAGE_SIZE: u32 = 500;

/// Applies the AD defaults to `d` (a `kind = "ad"` domain): filters and
/// attribute names still at their LDAP defaults, the page size, and TLS
/// (StartTLS on `ldap://` URIs: AD refuses simple binds on plain LDAP when
/// it requires strong authentication, and passwords must not travel in
/// clear text).
pub(crate) fn apply_defaults(d: &mut DomainConfig) {
    if d.user_filter == LDAP_USER_FILTER {
        d.user_filter = AD_USER_FILTER.to_string();
    }
    if d.group_filter.is_none() {
        d.group_filter = Some(AD_GROUP_FILTER.to_string());
    }
    if d.page_size == LDAP_PAGE_SIZE {
        d.page_size = AD_PAGE_SIZE;
    }
    let ldap = AttributeMap::default();
    let a = &mut d.attributes;
    if a.username == ldap.username {
        a.username = "sAMAccountName".into();
    }
    if a.group_name == ldap.group_name {
        a.group_name = "sAMAccountName".into();
    }
    if a.home_directory == ldap.home_directory {
        a.home_directory = "unixHomeDirectory".into();
    }
    // Group names are compared with the served names (lower case, `_` for
    // spaces, `@domain` when qualified).
    let (qualified, domain) = (d.qualified_names, d.name.clone());
    for g in &mut d.limit_to_groups {
        let short = g.split('@').next().unwrap_or(g).to_string();
        *g = crate::directory::ad::mapping::output_name(&short, qualified, &domain);
    }
    if d.uris
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
    fn limit_to_groups_names_are_the_served_names() {
        let c = parse("limit_to_groups = [\"Linux Users\", \"Admins@ad\"]");
        assert_eq!(c.domains[0].limit_to_groups, ["linux_users", "admins"]);
        let c = parse("qualified_names = true\nlimit_to_groups = [\"Linux Users\"]");
        assert_eq!(c.domains[0].limit_to_groups, ["linux_users@ad"]);
    }
}

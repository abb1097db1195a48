//! Active Directory's defaults (sAMAccountName, AD object classes, AD's
//! MaxPageSize, StartTLS; see [`super::defaults`]): keys an AD domain
//! leaves unset take them, keys the administrator wrote are kept.

/// The default user filter of AD domains.
pub const AD_USER_FILTER: &str = "(&(objectClass=user)(objectCategory=person))";
/// The default group filter of AD domains.
pub const AD_GROUP_FILTER: &str = "(objectClass=group)";
/// AD's MaxPageSize: the page size of AD domains unless configured.
pub const AD_PAGE_SIZE: u32 = 1000;

/// `limit_to_groups` names of an AD domain as they are served (lower case,
/// `_` for spaces, `@domain` when qualified), so that they compare with
/// the names the directory layer produces.
pub(crate) fn served_group_names(groups: &[String], qualified: bool, domain: &str) -> Vec<String> {
    groups
        .iter()
        .map(|g| {
            let short = g.split('@').next().unwrap_or(g);
            crate::directory::ad::mapping::output_name(short, qualified, domain)
        })
        .collect()
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
        assert!(!d.follows_referrals());
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
    fn explicit_page_size_on_an_ad_domain_is_kept() {
        // Issue 16: the AD default (1000) used to replace an explicit
        // page_size equal to the LDAP default.
        for size in [500, 1000, 1500] {
            let c = parse(&format!("page_size = {size}"));
            assert_eq!(c.domains[0].page_size, size);
        }
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
        let referrals = parse("referrals = true");
        assert!(referrals.domains[0].follows_referrals());
    }

    fn parse_err(text: &str) -> String {
        Config::from_str(text, "roster.toml")
            .unwrap_err()
            .to_string()
    }

    const NO_URIS: &str =
        "[[domain]]\nname = \"ad\"\nkind = \"ad\"\nbase_dn = \"DC=Ad,DC=Example,DC=test\"\n";

    #[test]
    fn ad_domains_without_uris_discover_their_dcs() {
        let c = Config::from_str(NO_URIS, "roster.toml").unwrap();
        let d = &c.domains[0];
        assert!(d.uris.is_empty() && d.discovers_servers());
        assert_eq!(d.dns_domain().as_deref(), Some("ad.example.test"));
        assert_eq!(d.realm().as_deref(), Some("AD.EXAMPLE.TEST"));
        assert!(d.start_tls, "discovered ldap:// DCs use StartTLS");
        assert!(d.any_tls());
        assert_eq!(d.keytab_path(), std::path::Path::new("/etc/krb5.keytab"));
        let c = Config::from_str(
            &format!("{NO_URIS}ad_domain = \"Corp.Example.COM.\"\nad_site = \"Branch-1\"\nkeytab = \"/etc/roster/host.keytab\"\n"),
            "roster.toml",
        )
        .unwrap();
        let d = &c.domains[0];
        assert_eq!(d.dns_domain().as_deref(), Some("corp.example.com"));
        assert_eq!(d.ad_site.as_deref(), Some("Branch-1"));
        assert_eq!(
            d.keytab_path(),
            std::path::Path::new("/etc/roster/host.keytab")
        );
        // Configured URIs: no discovery.
        assert!(!parse("").domains[0].discovers_servers());
    }

    #[test]
    fn join_and_discovery_keys_are_checked() {
        let e = parse_err(&format!("{NO_URIS}ad_site = \"a.b\"\n"));
        assert!(
            e.contains("key `ad_site`") && e.contains("one DNS label"),
            "{e}"
        );
        let e = parse_err(&format!("{NO_URIS}ad_domain = \"bad domain\"\n"));
        assert!(e.contains("key `ad_domain`"), "{e}");
        let e = parse_err(&format!("{NO_URIS}keytab = \"krb5.keytab\"\n"));
        assert!(e.contains("key `keytab`") && e.contains("absolute"), "{e}");
        // No DC= component and no ad_domain: nowhere to look.
        let e = parse_err(&NO_URIS.replace("DC=Ad,DC=Example,DC=test", "O=corp"));
        assert!(e.contains("key `uris`") && e.contains("ad_domain"), "{e}");
        // LDAP domains still need uris, and take no AD key.
        let ldap = "[[domain]]\nname = \"l\"\nbase_dn = \"dc=l\"\n";
        assert!(parse_err(ldap).contains("at least one URI"));
        let e = parse_err(&format!("{ldap}uris = [\"ldap://h\"]\nad_site = \"x\"\n"));
        assert!(e.contains("kind = \"ad\" domains only"), "{e}");
        // A service account's password never crosses discovered DCs in
        // clear text.
        let e = parse_err(&format!(
            "{NO_URIS}start_tls = false\nbind_dn = \"svc@ad\"\nbind_password_file = \"/nonexistent\"\n"
        ));
        assert!(e.contains("clear text"), "{e}");
    }

    #[test]
    fn limit_to_groups_names_are_the_served_names() {
        let c = parse("limit_to_groups = [\"Linux Users\", \"Admins@ad\"]");
        assert_eq!(c.domains[0].limit_to_groups, ["linux_users", "admins"]);
        let c = parse("qualified_names = true\nlimit_to_groups = [\"Linux Users\"]");
        assert_eq!(c.domains[0].limit_to_groups, ["linux_users@ad"]);
    }
}

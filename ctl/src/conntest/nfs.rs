//! The `nfs` step of `rosterctl test`: this host's NFSv4 domain against the
//! directory domain's DNS domain (the base DN's `dc=` components, the AD
//! realm), the translation method, and how qualified names go out.

use super::idmapd::HostIdmap;
use super::report::{DomainReport, Status};
use roster_daemon::config::DomainConfig;
use roster_daemon::dn;

/// What the check found: a status, a message and details.
pub struct Verdict {
    /// Worst finding.
    pub status: Status,
    /// One line.
    pub message: String,
    /// Further findings.
    pub details: Vec<String>,
}

/// Compares `host` with domain `d`.
pub fn verdict(d: &DomainConfig, host: &HostIdmap, conf_path: &str) -> Verdict {
    let nfs = &host.domain;
    let dir = dn::dns_domain(&d.base_dn);
    let mut details = Vec::new();
    let (mut status, message) = if dir.is_empty() {
        (
            Status::Ok,
            format!(
                "NFSv4 domain \"{nfs}\"; the base DN {} has no dc= components to compare it with: every host must use the same NFSv4 domain",
                d.base_dn
            ),
        )
    } else if dir.eq_ignore_ascii_case(nfs) {
        (
            Status::Ok,
            format!("NFSv4 domain \"{nfs}\" is the directory's DNS domain"),
        )
    } else {
        details.push(format!(
            "hosts whose NFSv4 domain is \"{dir}\" and this one map each other's owners to nobody; set Domain = {dir} in [General] of {conf_path} on every host"
        ));
        (
            Status::Warn,
            format!(
                "NFSv4 domain \"{nfs}\" differs from the directory's DNS domain \"{dir}\": the most common cause of files owned by nobody"
            ),
        )
    };
    if let Some(e) = &host.error {
        status = Status::Warn;
        details.push(e.clone());
    }
    if !host.uses_nsswitch() {
        status = Status::Warn;
        details.push(format!(
            "[Translation] Method = {} has no nsswitch: NFSv4 owners are not looked up through NSS, so not through roster",
            host.method.as_deref().unwrap_or_default()
        ));
    }
    if d.qualified_names {
        let name = &d.name;
        if !name.eq_ignore_ascii_case(nfs) {
            status = Status::Warn;
            details.push(format!(
                "qualified_names = true: users are served as user@{name}, which goes out as user@{name}@{nfs} (or user@{name} with No-Strip); hosts without this configuration map them to nobody. Name the domain \"{nfs}\" and set No-Strip = both"
            ));
        } else if !host.keeps_user_names() {
            status = Status::Warn;
            details.push(format!(
                "qualified_names = true: set No-Strip = both in [General] of {conf_path} so that user@{nfs} goes out as served, not as user@{nfs}@{nfs}"
            ));
        }
    }
    Verdict {
        status,
        message,
        details,
    }
}

/// Adds the `nfs` step for domain `d` to `r`.
pub fn step(r: &mut DomainReport, d: &DomainConfig, host: &HostIdmap, conf_path: &str) {
    let v = verdict(d, host, conf_path);
    r.push("nfs", host.source.clone(), v.status, v.message)
        .details = v.details;
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_daemon::config::Config;

    fn domain(name: &str, kind: &str, base_dn: &str, extra: &str) -> DomainConfig {
        let text = format!(
            "[[domain]]\nname = \"{name}\"\nkind = \"{kind}\"\nuris = [\"ldaps://dc.example.test\"]\n\
             base_dn = \"{base_dn}\"\n{extra}\n"
        );
        let c = Config::from_str(&text, "test.toml").expect("config");
        c.domain(name).expect("domain").clone()
    }

    fn host(domain: &str, method: Option<&str>, no_strip: Option<&str>) -> HostIdmap {
        HostIdmap {
            domain: domain.into(),
            source: "idmapd.conf [General] Domain".into(),
            method: method.map(String::from),
            no_strip: no_strip.map(String::from),
            error: None,
        }
    }

    #[test]
    fn the_nfs_domain_is_compared_with_the_base_dns_dc_components() {
        let d = domain("example", "ldap", "ou=x,dc=Example,dc=test", "");
        let v = verdict(&d, &host("EXAMPLE.test", None, None), "/etc/idmapd.conf");
        assert_eq!(v.status, Status::Ok, "{}", v.message);
        assert!(v.details.is_empty());
        let v = verdict(&d, &host("localdomain", None, None), "/etc/idmapd.conf");
        assert_eq!(v.status, Status::Warn);
        assert!(v.message.contains("\"localdomain\""), "{}", v.message);
        assert!(v.message.contains("\"example.test\""), "{}", v.message);
        assert!(v.message.contains("owned by nobody"), "{}", v.message);
        assert!(
            v.details[0].contains("Domain = example.test"),
            "{:?}",
            v.details
        );
        let d = domain("o", "ldap", "o=example", "");
        let v = verdict(&d, &host("example.test", None, None), "/etc/idmapd.conf");
        assert_eq!(v.status, Status::Ok);
        assert!(v.message.contains("no dc= components"), "{}", v.message);
    }

    #[test]
    fn another_method_and_qualified_names_are_warned_about() {
        let d = domain("example", "ldap", "dc=example,dc=test", "");
        let v = verdict(&d, &host("example.test", Some("static"), None), "f");
        assert_eq!(v.status, Status::Warn);
        assert!(v.details[0].contains("no nsswitch"), "{:?}", v.details);

        let ad = "DC=ad,DC=example,DC=test";
        let d = domain("ad", "ad", ad, "qualified_names = true");
        let v = verdict(&d, &host("ad.example.test", None, Some("both")), "f");
        assert_eq!(v.status, Status::Warn);
        assert!(
            v.details[0].contains("user@ad@ad.example.test"),
            "{:?}",
            v.details
        );
        let d = domain("ad.example.test", "ad", ad, "qualified_names = true");
        let v = verdict(&d, &host("ad.example.test", None, None), "f");
        assert_eq!(v.status, Status::Warn);
        assert!(v.details[0].contains("No-Strip = both"), "{:?}", v.details);
        let v = verdict(&d, &host("ad.example.test", None, Some("both")), "f");
        assert_eq!(v.status, Status::Ok, "{:?}", v.details);
    }
}

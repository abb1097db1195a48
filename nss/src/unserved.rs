//! The `_nss_roster_*` functions of maps roster does not serve whose
//! absence and an UNAVAIL answer are alike to glibc, each answering
//! UNAVAIL.
//!
//! glibc (2.34 and later) looks up every function it knows of for a
//! module when it loads it, whatever map asked. A function the module
//! lacks costs each such lookup a failed `dlsym`: a search of every
//! loaded object and an error message formatted and freed. With only the
//! passwd, group, initgroups and netgroup functions, those failures were
//! 50 a process, in every process that loads the module.
//!
//! A missing function and one answering UNAVAIL are not always alike:
//! glibc skips a missing one and keeps the status the source before it
//! gave, while a present one's status becomes the answer when it is the
//! last source (`nss/nsswitch.c`, glibc 2.36). So only these are
//! defined: the ethers lookups, `netname2user`, `getpublickey` and
//! `getsecretkey` (whose callers only ask for success: alike), and the
//! enumerations of every map (`nss/getnssent_r.c`: a listing that
//! reaches the module finds its `setXXent` answering UNAVAIL and goes on
//! to the next source, as past a missing one). Two cases of a listing
//! differ: with the module last and the source before it answering
//! TRYAGAIN (not ERANGE), `getXXent_r` returns ENOENT instead of that
//! source's `errno` (the entries, and `getXXent`'s NULL, are the same);
//! with the module first and `getXXent` called without `setXXent`, the
//! next source's `setXXent` is called before its first entry, as it
//! would be had the listing begun there. The lookups by key of the
//! other maps stay missing ([`MISSING`]): `shadow` and `gshadow` take
//! the `passwd` and `group` lines when `nsswitch.conf` has none of their
//! own, so `getspnam` of a name `/etc/shadow` lacks would end UNAVAIL
//! instead of NOTFOUND; `getaddrinfo` tests the `hosts` functions'
//! presence itself. No `errno` is set (the functions' arguments differ;
//! none is read).

use libc::c_int;
use libnss::interop::NssStatus;

/// Defines each named function as one answering UNAVAIL.
macro_rules! unavailable {
    ($($name:ident),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "`: a map roster does not serve (UNAVAIL).")]
            #[no_mangle]
            pub extern "C" fn $name() -> c_int {
                NssStatus::Unavail as c_int
            }
        )*
        /// The functions defined here, by name.
        pub const UNSERVED: &[(&str, extern "C" fn() -> c_int)] = &[$((stringify!($name), $name)),*];
    };
}

unavailable!(
    _nss_roster_endaliasent,
    _nss_roster_endetherent,
    _nss_roster_endhostent,
    _nss_roster_endnetent,
    _nss_roster_endprotoent,
    _nss_roster_endrpcent,
    _nss_roster_endservent,
    _nss_roster_endsgent,
    _nss_roster_endspent,
    _nss_roster_getaliasent_r,
    _nss_roster_getetherent_r,
    _nss_roster_gethostent_r,
    _nss_roster_gethostton_r,
    _nss_roster_getnetent_r,
    _nss_roster_getntohost_r,
    _nss_roster_getprotoent_r,
    _nss_roster_getpublickey,
    _nss_roster_getrpcent_r,
    _nss_roster_getsecretkey,
    _nss_roster_getservent_r,
    _nss_roster_getsgent_r,
    _nss_roster_getspent_r,
    _nss_roster_netname2user,
    _nss_roster_setaliasent,
    _nss_roster_setetherent,
    _nss_roster_sethostent,
    _nss_roster_setnetent,
    _nss_roster_setprotoent,
    _nss_roster_setrpcent,
    _nss_roster_setservent,
    _nss_roster_setsgent,
    _nss_roster_setspent,
);

/// The functions glibc looks up that stay missing: lookups by key of
/// maps roster does not serve, where a present function answering
/// UNAVAIL would change the answer (see the module's documentation).
pub const MISSING: &[&str] = &[
    "_nss_roster_getaliasbyname_r",
    "_nss_roster_getcanonname_r",
    "_nss_roster_gethostbyaddr2_r",
    "_nss_roster_gethostbyaddr_r",
    "_nss_roster_gethostbyname2_r",
    "_nss_roster_gethostbyname3_r",
    "_nss_roster_gethostbyname4_r",
    "_nss_roster_gethostbyname_r",
    "_nss_roster_getnetbyaddr_r",
    "_nss_roster_getnetbyname_r",
    "_nss_roster_getprotobyname_r",
    "_nss_roster_getprotobynumber_r",
    "_nss_roster_getrpcbyname_r",
    "_nss_roster_getrpcbynumber_r",
    "_nss_roster_getservbyname_r",
    "_nss_roster_getservbyport_r",
    "_nss_roster_getsgnam_r",
    "_nss_roster_getspnam_r",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The functions the module serves (`hooks`, `netgroup`).
    const SERVED: &[&str] = &[
        "_nss_roster_endgrent",
        "_nss_roster_endnetgrent",
        "_nss_roster_endpwent",
        "_nss_roster_getgrent_r",
        "_nss_roster_getgrgid_r",
        "_nss_roster_getgrnam_r",
        "_nss_roster_getnetgrent_r",
        "_nss_roster_getpwent_r",
        "_nss_roster_getpwnam_r",
        "_nss_roster_getpwuid_r",
        "_nss_roster_initgroups_dyn",
        "_nss_roster_setgrent",
        "_nss_roster_setnetgrent",
        "_nss_roster_setpwent",
    ];

    #[test]
    fn each_unserved_function_answers_unavailable_and_none_is_served_or_kept_missing() {
        let mut seen = std::collections::HashSet::new();
        for (name, f) in UNSERVED {
            assert!(seen.insert(*name), "{name} twice");
            assert!(!SERVED.contains(name), "{name} is served");
            assert!(!MISSING.contains(name), "{name} must stay missing");
            assert_eq!(f(), NssStatus::Unavail as c_int, "{name}");
        }
        for name in MISSING {
            assert!(seen.insert(*name), "{name} twice");
            assert!(!SERVED.contains(name), "{name} is served");
        }
        // With the served ones, every function glibc 2.36 looks up
        // (`nss/function.def`; the e2e test checks the built module).
        assert_eq!(UNSERVED.len() + MISSING.len() + SERVED.len(), 64);
    }
}

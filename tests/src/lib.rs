//! Fixtures for the end-to-end tests (slapd, rosterd, mount namespaces).

//! pam_roster.so: PAM auth/account/password/session hooks backed by rosterd.

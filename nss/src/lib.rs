//! libnss_roster.so.2: NSS passwd/group/initgroups hooks backed by rosterd.

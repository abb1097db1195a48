//! rosterd internals: configuration, directory access, cache and socket service.

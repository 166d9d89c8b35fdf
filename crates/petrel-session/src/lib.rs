//! petrel-session (in progress).

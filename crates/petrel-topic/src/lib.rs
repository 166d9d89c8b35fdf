//! petrel-topic (in progress).

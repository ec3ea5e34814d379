//! Contacts and events feeds (being written).

//! The operator's side of `funnel run`: a `tick` reads the `feed`s, applies
//! `migration`s to journeys whose funnel changed, and has the `runner`
//! `walk` each contact through what is due, `act`ing on each step; then the
//! `dispatcher` delivers the outbox through the `channel`s. What a funnel
//! means is decided in `language`; what is stored, in `store`. The
//! channels' secrets (`crate::secret`) and the owner-only files of
//! personal data (`crate::private`) sit below every layer.

pub mod act;
pub mod channel;
pub mod dispatcher;
pub mod feed;
pub mod migration;
pub mod runner;
pub mod tick;
pub mod walk;

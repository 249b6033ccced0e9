//! Configuration: loghogd.conf, facilities.conf and the command line.
pub mod args;
pub mod daemon;
pub mod facilities;
pub mod ini;
pub mod sample;

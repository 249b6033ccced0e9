//! Storage: the writers that own log files, rotation, retention and archives.
pub mod archive;
pub mod gzlive;
pub mod line;
pub mod retention;
pub mod rotation;
pub mod schedule;
pub mod state;
pub mod writer;

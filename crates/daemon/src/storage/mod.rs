//! Storage: the writers that own log files, rotation, retention and archives.
pub mod archive;
pub mod gzlive;
pub mod handle;
mod housekeeping;
pub mod line;
mod live;
pub mod retention;
pub mod rotation;
pub mod schedule;
pub mod state;
mod writer;

pub use handle::{
    Command, Storage, StorageClosed, StorageHandle, StorageSettings, WriteBatch, WriterStats,
};
pub use live::open_live;

//! Shared fast state: Redis when configured, else this process's memory.

pub mod memory;
pub mod redis;

//! Shared fast state: Redis when configured, else nothing beyond this process.

pub mod redis;

//! Implementations of the core's ports outside the database: Redis when configured (shared by
//! every instance), else this process's memory (one instance only).

pub mod in_process;
pub mod redis;

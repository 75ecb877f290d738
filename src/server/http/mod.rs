//! The HTTP surface: accepting connections, the router and its layers, the
//! site's files, the JSON
//! API (`rest`, one file per resource).

pub mod assets;
pub mod connections;
pub mod middleware;
pub mod rest;
pub mod router;

//! The HTTP surface: the router and its layers, the site's files, the JSON
//! API (`rest`, one file per resource).

pub mod assets;
pub mod middleware;
pub mod rest;
pub mod router;

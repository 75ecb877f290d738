//! The HTTP surface: the router and its layers, the site's files, the JSON
//! API (`rest`, one file per resource) and the pay link's QR code.

pub mod assets;
pub mod middleware;
pub mod qr;
pub mod rest;
pub mod router;

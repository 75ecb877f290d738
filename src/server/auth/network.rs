//! One definition of a client's network, for the throttle and the
//! sessions' record of where they were opened.

use std::net::IpAddr;

/// A client's network, not its address: an IPv4 address's /24, an IPv6
/// address's /64 (one subscriber usually has a whole /64). What the
/// throttle counts attempts by, and what a session records of where it was
/// opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Network(IpAddr);

/// The network of `address`.
pub fn network(address: IpAddr) -> Network {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Network(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, 0)))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Network(IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0)))
        }
    }
}

impl Network {
    /// The wider network a failure budget is kept for: an IPv6 /48 (what
    /// one site is usually given: its /64s would be 65,536 budgets), an
    /// IPv4 /24 as it is.
    pub fn wide(self) -> Network {
        match self.0 {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                Network(IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0)))
            }
            IpAddr::V4(_) => self,
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}/24"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_hide_the_host() {
        assert_eq!(network("203.0.113.77".parse().unwrap()).to_string(), "203.0.113.0/24");
        assert_eq!(
            network("2001:db8:1:2:3:4:5:6".parse().unwrap()).to_string(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            network("203.0.113.77".parse().unwrap()),
            network("203.0.113.1".parse().unwrap())
        );
    }
}

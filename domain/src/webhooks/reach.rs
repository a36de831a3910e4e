//! Which addresses a webhook may reach: the public internet only. A customer's URL must never make the
//! platform call into its own network (a Docker engine on `tcp://…:2375`, a cloud metadata service, a
//! database), nor turn the delivery log into a scanner of it.
//!
//! A literal address is refused when the webhook is created; a name is resolved at each delivery, every
//! address it resolves to must be public, and the delivery connects to exactly those addresses, so a
//! name that resolves differently the second time (DNS rebinding) gains nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Where deliveries may go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    /// Also loopback and private addresses: for tests and local development only
    /// (`--webhook-allow-private`).
    pub allow_private: bool,
}

/// Why an address is not on the public internet, or `None` when it is.
pub fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => internal_v4(ip),
        IpAddr::V6(ip) => internal_v6(ip),
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() => "an unspecified address",
        (0, _, _) => "a 'this network' address",
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_private() => "a private address",
        _ if ip.is_link_local() => "a link-local address (where cloud metadata services live)",
        (100, 64..=127, _) => "a shared (carrier-grade NAT) address",
        (192, 0, 0) => "an IETF protocol address",
        _ if ip.is_documentation() => "a documentation address",
        (198, 18..=19, _) => "a benchmarking address",
        _ if ip.is_multicast() => "a multicast address",
        _ if ip.is_broadcast() => "the broadcast address",
        (240..=255, _, _) => "a reserved address",
        _ => return None,
    })
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // An IPv4 address written as IPv6 reaches the same host: judge the IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4).or(Some("an IPv4-mapped address"));
    }
    let segments = ip.segments();
    Some(match segments {
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        // ::a.b.c.d, the deprecated IPv4-compatible form.
        [0, 0, 0, 0, 0, 0, _, _] => "an IPv4-compatible address",
        // 64:ff9b::/96 (NAT64) reaches the IPv4 address in its last 32 bits.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => "a NAT64 address",
        [s, ..] if s & 0xfe00 == 0xfc00 => "a unique local (private) address",
        [s, ..] if s & 0xffc0 == 0xfe80 => "a link-local address",
        [s, ..] if s & 0xff00 == 0xff00 => "a multicast address",
        [0x2001, 0xdb8, ..] => "a documentation address",
        // 2002::/16 (6to4) carries an IPv4 address in its next 32 bits.
        [0x2002, hi, lo, ..] => {
            let [a, b] = hi.to_be_bytes();
            let [c, d] = lo.to_be_bytes();
            return internal_v4(Ipv4Addr::new(a, b, c, d))
                .map(|_| "a 6to4 address of an internal host");
        }
        _ => return None,
    })
}

impl Reach {
    /// Refuses `ip` unless deliveries may go there; the reason names the address and says what to do.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        match internal(ip) {
            Some(kind) if !self.allow_private => Err(format!(
                "{ip} is {kind}: webhooks are delivered only to public internet addresses"
            )),
            _ => Ok(()),
        }
    }

    /// Refuses a URL whose host is written as an address that deliveries may not reach.
    pub fn check_literal(&self, url: &url::Url) -> Result<(), String> {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check(IpAddr::V6(ip)),
            _ => Ok(()),
        }
    }

    /// The addresses `url`'s host resolves to, each of them allowed; an error says why not.
    pub async fn resolve(&self, url: &url::Url) -> Result<Vec<SocketAddr>, String> {
        let host = url.host_str().ok_or("the URL has no host")?;
        let port = url.port_or_known_default().ok_or("the URL has no port")?;
        let addresses: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            _ => tokio::net::lookup_host((host, port))
                .await
                .map_err(|err| format!("the host {host} does not resolve: {err}"))?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(format!("the host {host} resolves to no address"));
        }
        for address in &addresses {
            self.check(address.ip())
                .map_err(|why| format!("the host {host} resolves to {why}"))?;
        }
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        internal(text.parse().unwrap()).is_some()
    }

    #[test]
    fn addresses_inside_any_network_are_refused() {
        for address in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "fd00::1",
            "fc12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            // Even a public host written as IPv4-mapped IPv6: nothing needs that form.
            "::ffff:8.8.8.8",
        ] {
            assert!(refused(address), "{address} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "2002:808:808::",
        ] {
            assert!(!refused(address), "{address} should be allowed");
        }
    }

    #[test]
    fn allowing_private_addresses_lets_loopback_through() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(Reach::default().check(ip).unwrap_err().contains("loopback"));
        assert!(
            Reach {
                allow_private: true
            }
            .check(ip)
            .is_ok()
        );
    }

    #[tokio::test]
    async fn a_name_is_judged_by_every_address_it_resolves_to() {
        let url = url::Url::parse("http://localhost:9/hook").unwrap();
        let why = Reach::default().resolve(&url).await.unwrap_err();
        assert!(
            why.contains("localhost resolves to") && why.contains("loopback"),
            "{why}"
        );
        let literal = url::Url::parse("http://[::ffff:7f00:1]/").unwrap();
        assert!(Reach::default().check_literal(&literal).is_err());
        let public = url::Url::parse("http://93.184.215.14/").unwrap();
        assert_eq!(
            Reach::default().resolve(&public).await.unwrap(),
            vec!["93.184.215.14:80".parse().unwrap()]
        );
    }
}

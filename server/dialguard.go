package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress: a callback would go to an address the network policy refuses
// (loopback, private, link-local, metadata and similar), or to a URL the responseURL policy
// refuses.
var ErrForbiddenAddress = errors.New("server: callback target refused by policy")

// NetworkPolicy decides which IP addresses the gateway may connect to for callbacks to
// requester-supplied URLs. By default only public unicast addresses are allowed, as boulder
// does for its validation requests: a requester must not make the gateway reach its own
// loopback, the internal network or a cloud metadata service (SSRF).
type NetworkPolicy struct {
	// AllowPrivate allows every address (test setups, receivers on the internal network).
	AllowPrivate bool
	// Allowed are networks allowed although they are in a refused range (for example the
	// partners' receivers in 10.20.0.0/16).
	Allowed []netip.Prefix
}

// refusedNetworks are never reached by callbacks unless allowed: RFC 6890 special-purpose
// ranges that are not the public internet (read only).
var refusedNetworks = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network", unspecified
		"10.0.0.0/8",      // RFC 1918
		"100.64.0.0/10",   // carrier-grade NAT (RFC 6598)
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, with the 169.254.169.254 metadata service
		"172.16.0.0/12",   // RFC 1918
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.168.0.0/16",  // RFC 1918
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, broadcast
		"::/128",          // unspecified
		"::1/128",         // loopback
		"64:ff9b::/96",    // NAT64 (embeds IPv4 addresses)
		"64:ff9b:1::/48",  // local NAT64
		"100::/64",        // discard
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4 (embeds IPv4 addresses)
		"fc00::/7",        // unique local (RFC 4193), with fd00:ec2::254 (metadata)
		"fe80::/10",       // link-local
		"fec0::/10",       // site-local (deprecated)
		"ff00::/8",        // multicast
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// CheckAddr returns an error wrapping ErrForbiddenAddress if the policy refuses ip.
// IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) are judged as the IPv4 address.
func (p NetworkPolicy) CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrForbiddenAddress)
	}
	if p.AllowPrivate || slices.ContainsFunc(p.Allowed, func(n netip.Prefix) bool { return n.Contains(ip) }) {
		return nil
	}
	for _, n := range refusedNetworks {
		if n.Contains(ip) {
			return fmt.Errorf("%w: %s is in %s (set callback.allow_private_addresses or callback.allowed_networks to allow it)",
				ErrForbiddenAddress, ip, n)
		}
	}
	return nil
}

// Control is a net.Dialer Control function: it refuses a connection to an address the
// policy refuses. It runs after name resolution, for the address actually connected to,
// so that a name resolving to 127.0.0.1 (or changing its answer between check and use)
// gains nothing.
func (p NetworkPolicy) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q: %v", ErrForbiddenAddress, address, err)
	}
	return p.CheckAddr(ap.Addr())
}

// DialContext returns a dialer's DialContext guarded by the policy.
func (p NetworkPolicy) DialContext(timeout, keepAlive time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout, KeepAlive: keepAlive, Control: p.Control}
	return d.DialContext
}

// URLPolicy is the one responseURL policy: every operation that takes a responseURL
// (RequestCertificate in async or approval mode, RequestForeignCertificate) checks it when
// the request comes in, and the outbox worker checks the target again before each delivery.
type URLPolicy struct {
	// AllowHTTP allows plain http URLs (test setups, a TLS-terminating proxy in front of the
	// receiver); otherwise https only.
	AllowHTTP bool
	// AllowedPrefixes, when set, restricts URLs to these prefixes.
	AllowedPrefixes []string
	// Network refuses URLs whose host is an IP address it refuses at once (names are checked
	// when connecting, after resolution).
	Network NetworkPolicy
}

// Check returns nil if raw is a URL callbacks may go to, else an error that says why.
func (p URLPolicy) Check(raw string) error {
	if err := checkURL(raw, p.AllowHTTP); err != nil {
		return err
	}
	if len(p.AllowedPrefixes) > 0 && !slices.ContainsFunc(p.AllowedPrefixes, func(pre string) bool { return strings.HasPrefix(raw, pre) }) {
		return fmt.Errorf("responseURL %q is not under callback.allowed_url_prefixes", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("responseURL: %w", err)
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if err := p.Network.CheckAddr(ip); err != nil {
			return fmt.Errorf("responseURL %q: %w", raw, err)
		}
	}
	return nil
}

// CheckHTTPS accepts absolute https URLs with a host and nothing else (the scheme part of
// URLPolicy, which is the default CheckResponseURL). Callbacks carry certificates; they never
// go over plain HTTP unless the operator allows it.
func CheckHTTPS(raw string) error { return checkURL(raw, false) }

// checkURL is the scheme and form check of a responseURL.
func checkURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("responseURL: %w", err)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("responseURL %q: need scheme://host/path without user or fragment", raw)
	}
	if u.Scheme != "https" && !(allowHTTP && u.Scheme == "http") {
		return fmt.Errorf("responseURL %q: scheme %q not allowed", raw, u.Scheme)
	}
	if len(raw) > 2048 {
		return errors.New("responseURL too long")
	}
	return nil
}

package server

import (
	"errors"
	"net/netip"
	"testing"
)

func TestNetworkPolicy(t *testing.T) {
	refused := []string{"127.0.0.1", "127.1.2.3", "0.0.0.0", "0.1.2.3", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "100.64.0.1", "100.127.255.254", "169.254.169.254", "169.254.1.1", "224.0.0.1", "255.255.255.255",
		"::", "::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "fd00:ec2::254", "fc00::1",
		"fe80::1", "ff02::1", "64:ff9b::7f00:1"}
	allowed := []string{"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "193.0.0.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"}
	var p NetworkPolicy
	for _, s := range refused {
		if err := p.CheckAddr(netip.MustParseAddr(s)); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: %v, want refused", s, err)
		}
		if err := p.Control("tcp", netip.AddrPortFrom(netip.MustParseAddr(s), 443).String(), nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Control %s: %v, want refused", s, err)
		}
	}
	for _, s := range allowed {
		if err := p.CheckAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if err := (NetworkPolicy{AllowPrivate: true}).CheckAddr(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("allow private: %v", err)
	}
	p.Allowed = []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}
	if err := p.CheckAddr(netip.MustParseAddr("10.20.3.4")); err != nil {
		t.Errorf("allowed network: %v", err)
	}
	if err := p.CheckAddr(netip.MustParseAddr("::ffff:10.20.3.4")); err != nil {
		t.Errorf("allowed network, mapped: %v", err)
	}
	if err := p.CheckAddr(netip.MustParseAddr("10.21.0.1")); err == nil {
		t.Error("outside the allowed network")
	}
}

func TestURLPolicy(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://dv.example/cb":          true,
		"https://8.8.8.8/cb":             true,
		"http://dv.example/cb":           false,
		"https://127.0.0.1/cb":           false,
		"https://[::1]:8443/cb":          false,
		"https://[fd00:ec2::254]/":       false,
		"https://169.254.169.254/latest": false,
		"https://user@dv.example/cb":     false,
		"dv.example/cb":                  false,
	} {
		if err := (URLPolicy{}).Check(u); (err == nil) != ok {
			t.Errorf("%s: %v", u, err)
		}
	}
	p := URLPolicy{AllowHTTP: true, AllowedPrefixes: []string{"http://10.20.0.5:8080/"},
		Network: NetworkPolicy{Allowed: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}}}
	if err := p.Check("http://10.20.0.5:8080/cb"); err != nil {
		t.Error(err)
	}
	if err := p.Check("http://10.20.0.5:8081/cb"); err == nil {
		t.Error("outside the prefixes")
	}
}

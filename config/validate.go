package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Validate checks the whole configuration and returns every problem it finds, joined
// (errors.Join), so that an operator fixes a file in one round: roles and modes of
// processing, URLs, CIDRs, pins, the SPOC routing table, the keystore backend, and negative
// limits, validities, retentions and durations (zero values are the defaults and valid).
func (c Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.Country != "" && !isCountry(c.Country) {
		add(fmt.Errorf("country %q: two capital letters (ISO 3166-1 alpha-2)", c.Country))
	}
	if c.DVMnemonic != "" && (len(c.DVMnemonic) > 9 || strings.ContainsFunc(c.DVMnemonic, func(r rune) bool { return !isAlnum(r) })) {
		add(fmt.Errorf("dv_mnemonic %q: up to 9 letters and digits", c.DVMnemonic))
	}
	add(checkHostPort("listen", c.Listen))
	add(checkHostPort("metrics.listen", c.Metrics.Listen))
	if k := c.Keystore; k != nil && k.Backend != "" && k.Backend != "soft" && k.Backend != "pkcs11" {
		add(fmt.Errorf("keystore.backend %q: soft or pkcs11", k.Backend))
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"validity_days.dv_domestic", c.Validity.DVDomestic}, {"validity_days.dv_foreign", c.Validity.DVForeign},
		{"validity_days.terminal", c.Validity.Terminal}, {"retention.messages_days", c.Retention.MessagesDays},
		{"retention.emca_nonces_days", c.Retention.EMCANoncesDays}, {"limits.max_connections", c.Limits.MaxConnections},
		{"limits.max_header_bytes", c.Limits.MaxHeaderBytes}, {"limits.memory_limit_mib", c.Limits.MemoryLimitMiB},
		{"callback.workers", c.Callback.Workers}, {"callback.max_attempts", c.Callback.MaxAttempts},
		{"callback.target_concurrency", c.Callback.TargetConcurrency}, {"emca.password_checks", c.EMCA.PasswordChecks},
		{"emca.lockout_failures", c.EMCA.LockoutFailures}} {
		if v.n < 0 {
			add(fmt.Errorf("%s: %d is negative", v.name, v.n))
		}
	}
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"dv_client.renew_before", c.DVClient.RenewBefore}, {"dv_client.check_interval", c.DVClient.CheckInterval},
		{"dv_client.min_interval", c.DVClient.MinInterval}, {"dv_client.timeout", c.DVClient.Timeout},
		{"callback.backoff_initial", c.Callback.BackoffInitial}, {"callback.backoff_max", c.Callback.BackoffMax}, {"callback.lease", c.Callback.Lease},
		{"callback.poll_interval", c.Callback.PollInterval}, {"callback.call_timeout", c.Callback.CallTimeout},
		{"callback.shutdown_grace", c.Callback.ShutdownGrace}, {"callback.target_busy_delay", c.Callback.TargetBusyDelay},
		{"callback.processing_backoff_max", c.Callback.ProcessingBackoffMax}, {"callback.claim_backoff_max", c.Callback.ClaimBackoffMax},
		{"emca.password_wait", c.EMCA.PasswordWait}, {"emca.lockout_window", c.EMCA.LockoutWindow}, {"emca.lockout_duration", c.EMCA.LockoutDuration}} {
		if v.d < 0 {
			add(fmt.Errorf("%s: %v is negative", v.name, v.d))
		}
	}
	if _, err := c.ProcessingModes(); err != nil {
		add(err)
	}
	if _, err := c.Callback.URLPolicy(); err != nil {
		add(err)
	}
	for _, p := range c.Callback.AllowedURLPrefixes {
		add(checkURL("callback.allowed_url_prefixes", p))
	}
	if c.DVClient.CVCAURL != "" {
		add(checkURL("dv_client.cvca_url", c.DVClient.CVCAURL))
	}
	if c.DVClient.ResponseURL != "" {
		add(checkURL("dv_client.response_url", c.DVClient.ResponseURL))
	}
	for _, pin := range c.DVClient.CVCASHA256 {
		if b, err := hex.DecodeString(strings.TrimSpace(pin)); err != nil || len(b) != sha256.Size {
			add(fmt.Errorf("dv_client.cvca_sha256 %q: not a hex SHA-256", pin))
		}
	}
	for _, country := range c.DVClient.Foreign {
		if !isCountry(country) {
			add(fmt.Errorf("dv_client.foreign %q: two capital letters (ISO 3166-1 alpha-2)", country))
		}
	}
	add(c.SPOC.Validate())
	return errors.Join(errs...)
}

func isCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

func isAlnum(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
}

// checkHostPort accepts an empty address (the default) or host:port.
func checkHostPort(name, addr string) error {
	if addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s %q: %w", name, addr, err)
	}
	return nil
}

// checkURL accepts an absolute http or https URL with a host.
func checkURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s %q: need an http(s) URL with a host", name, raw)
	}
	return nil
}

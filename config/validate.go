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

	"eacgate/authority"
	"eacgate/cvc"
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
	if c.Country != "" {
		if err := cvc.CheckCountry(c.Country); err != nil {
			add(fmt.Errorf("country %q: %s", c.Country, why(err)))
		}
	}
	if c.DVMnemonic != "" {
		if err := cvc.CheckMnemonic(c.DVMnemonic); err != nil {
			add(fmt.Errorf("dv_mnemonic %q: %s", c.DVMnemonic, why(err)))
		}
	}
	if !c.CommonPolicy.AllowOutsideTR03139 {
		for _, err := range c.outsideTR03139() {
			add(fmt.Errorf("%w; set policy.allow_outside_tr03139: true for a test PKI", err))
		}
	}
	add(checkHostPort("listen", c.Listen))
	add(c.TwoPerson.Validate())
	add(c.Console.Validate())
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
		if err := cvc.CheckCountry(country); err != nil {
			add(fmt.Errorf("dv_client.foreign %q: %s", country, why(err)))
		}
	}
	add(c.SPOC.Validate())
	add(c.Audit.validate())
	return errors.Join(errs...)
}

// outsideTR03139 names each configured validity outside TR-03139 4.7 with the limit.
func (c Config) outsideTR03139() []error {
	var errs []error
	for _, v := range []struct {
		name string
		role cvc.Role
		days int
	}{{"validity_days.dv_domestic", cvc.RoleDVDomestic, c.Validity.DVDomestic}, {"validity_days.dv_foreign", cvc.RoleDVForeign, c.Validity.DVForeign},
		{"validity_days.terminal", cvc.RoleTerminal, c.Validity.Terminal}} {
		if v.days <= 0 { // the default, or negative (reported as such)
			continue
		}
		if err := authority.CheckTR03139Validity(v.role, v.days); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.name, err))
		}
	}
	return errs
}

// PolicyWarnings are what a start with this configuration must warn about: the validities
// policy.allow_outside_tr03139 lets outside TR-03139 4.7, or that it is set at all.
func (c Config) PolicyWarnings() []string {
	if !c.CommonPolicy.AllowOutsideTR03139 {
		return nil
	}
	out := []string{"policy.allow_outside_tr03139 is set: certificate validities outside TR-03139 4.7 are accepted (test PKIs only)"}
	for _, err := range c.outsideTR03139() {
		out = append(out, err.Error())
	}
	return out
}

// why is the reason of a cvc naming error.
func why(err error) string {
	if ne, ok := errors.AsType[*cvc.NameError](err); ok {
		return ne.Reason
	}
	return err.Error()
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

package ops

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"eacgate/store"
)

// AuthLimits bound what authentication writes to the audit log (zero fields: defaults).
type AuthLimits struct {
	// SourceBurst refused authentications of one source are recorded at once, then one
	// every SourceEvery (defaults 10 and a minute).
	SourceBurst int
	SourceEvery time.Duration
	// GlobalBurst and GlobalEvery bound all sources together (defaults 100 and 10 s: at most
	// 360 an hour after the burst, whatever the number of sources).
	GlobalBurst int
	GlobalEvery time.Duration
	// MaxSources bounds the sources remembered (default 4096); beyond, the global bucket
	// alone bounds the events.
	MaxSources int
	// SummaryEvery: the count of refusals not recorded is written at most this often
	// (default a minute), with the next refusal recorded.
	SummaryEvery time.Duration
	// LoginEvery: a successful authentication of one account is recorded at most once in
	// this time (default an hour).
	LoginEvery time.Duration
	// LastUseEvery: an account's last use is written at most once in this time (default a
	// minute): no write per request.
	LastUseEvery time.Duration
}

func (l AuthLimits) withDefaults() AuthLimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.SourceBurst, 10)
	defD(&l.SourceEvery, time.Minute)
	def(&l.GlobalBurst, 100)
	defD(&l.GlobalEvery, 10*time.Second)
	def(&l.MaxSources, 4096)
	defD(&l.SummaryEvery, time.Minute)
	defD(&l.LoginEvery, time.Hour)
	defD(&l.LastUseEvery, time.Minute)
	return l
}

// AuthLog keeps the audit of authentication bounded: logins once an hour per account,
// refused authentications through token buckets per source and overall, each event capped
// to a few hundred bytes (what the caller sent is truncated), and a summary event at most
// once a minute saying how many refusals were not recorded. One AuthLog per serving adapter (the admin Handler
// makes it); its state is per process, so each instance has its own bound.
type AuthLog struct {
	limits AuthLimits

	mu         sync.Mutex
	global     bucket
	sources    map[string]*bucket
	suppressed int
	since      time.Time            // the first refusal not recorded
	summarised time.Time            // the last summary
	logins     map[string]time.Time // account -> its last login event
}

// NewAuthLog returns an AuthLog with limits (zero fields: defaults).
func NewAuthLog(limits AuthLimits) *AuthLog {
	return &AuthLog{limits: limits.withDefaults(), sources: map[string]*bucket{}, logins: map[string]time.Time{}}
}

// bucket is a token bucket: burst tokens, one more every period.
type bucket struct {
	tokens float64
	at     time.Time
}

func (b *bucket) take(now time.Time, burst int, every time.Duration) bool {
	if b.at.IsZero() {
		b.tokens, b.at = float64(burst), now
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(float64(burst), b.tokens+float64(d)/float64(every))
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// admit decides whether a refusal from source is recorded; if it is, others were not and
// the last summary is SummaryEvery old, it returns how many and since when (the summary to
// record first).
func (l *AuthLog) admit(now time.Time, source string) (ok bool, suppressed int, since time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.sources[source]
	if b == nil {
		if len(l.sources) >= l.limits.MaxSources {
			clear(l.sources) // forgetting only makes sources look new: the global bucket still bounds
		}
		b = &bucket{}
		l.sources[source] = b
	}
	// The source's token is taken first: a flooding source does not use up the global ones.
	if !b.take(now, l.limits.SourceBurst, l.limits.SourceEvery) || !l.global.take(now, l.limits.GlobalBurst, l.limits.GlobalEvery) {
		if l.suppressed == 0 {
			l.since = now
		}
		l.suppressed++
		return false, 0, time.Time{}
	}
	if l.suppressed == 0 || now.Sub(l.summarised) < l.limits.SummaryEvery {
		return true, 0, time.Time{}
	}
	suppressed, since = l.suppressed, l.since
	l.suppressed, l.summarised = 0, now
	return true, suppressed, since
}

// loginDue reports whether account's login is to be recorded now (and notes it if so).
func (l *AuthLog) loginDue(now time.Time, account string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.logins[account]; ok && now.Sub(last) < l.limits.LoginEvery {
		return false
	}
	l.logins[account] = now
	return true
}

// Caps of what authentication events carry of the caller's input.
const (
	maxAuthField  = 64  // actor name, target, source
	maxAuthDetail = 128 // each detail value (user agent, path, reason)
)

// clip cuts s to at most n bytes at a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-3]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "..."
}

// boundedEvent is an authentication event with every field the caller could fill clipped.
func (s *Service) boundedEvent(a Actor, action Action, target, outcome string, details map[string]string) (store.AuditEvent, error) {
	a.Name, a.Remote = clip(a.Name, maxAuthField), clip(a.Remote, maxAuthField)
	var d any
	if len(details) > 0 {
		m := make(map[string]string, len(details))
		for k, v := range details {
			m[clip(k, 32)] = clip(v, maxAuthDetail)
		}
		d = m
	}
	return s.event(a, action, clip(target, maxAuthField), clip(outcome, maxAuthDetail), d)
}

// AuthRefused records a refused authentication of a (action: ActionAuthRefused, or the
// event name a channel always used for it, e.g. emCA's action refused), bounded: events
// beyond the limits of s.AuthLog are counted, and the next one recorded is preceded by an
// auth.refused.suppressed event saying how many were not. Without an AuthLog every refusal
// is recorded (capped in size). A failure to audit is logged.
func (s *Service) AuthRefused(ctx context.Context, a Actor, action Action, target, outcome string, details map[string]string) {
	if s.AuthLog != nil {
		ok, n, since := s.AuthLog.admit(s.now(), a.Remote)
		if !ok {
			return
		}
		if n > 0 {
			ev, err := s.event(Actor{Channel: a.Channel, Name: "gateway"}, ActionAuthSuppressed, "", "suppressed",
				map[string]string{"count": strconv.Itoa(n), "since": since.UTC().Format(time.RFC3339)})
			if err == nil {
				_, err = s.Store.AppendAudit(ctx, ev)
			}
			if err != nil {
				s.logger().Error("audit of suppressed authentication refusals", "count", n, "err", err)
			}
		}
	}
	ev, err := s.boundedEvent(a, action, target, outcome, details)
	if err == nil {
		_, err = s.Store.AppendAudit(ctx, ev)
	}
	if err != nil {
		s.logger().Error("audit of a refused authentication", "action", action, "err", err)
	}
}

// OperatorAuthenticated notes a successful authentication of operator o by a: its last use
// (at most once a minute) and an auth.login event (at most once an hour per account, with
// the source address). Failures are logged: they do not refuse the operator.
func (s *Service) OperatorAuthenticated(ctx context.Context, a Actor, o *store.Operator, details map[string]string) {
	s.authenticated(ctx, a, "operator:"+strconv.FormatInt(o.ID, 10), o.LastUsedAt, details,
		func(at time.Time, every time.Duration) error { return s.Store.TouchOperator(ctx, o.ID, at, every) })
}

// APIClientAuthenticated is OperatorAuthenticated for an emCA API client.
func (s *Service) APIClientAuthenticated(ctx context.Context, a Actor, c *store.APIClient, details map[string]string) {
	s.authenticated(ctx, a, "api_client:"+strconv.FormatInt(c.ID, 10), c.LastUsedAt, details,
		func(at time.Time, every time.Duration) error { return s.Store.TouchAPIClient(ctx, c.ID, at, every) })
}

func (s *Service) authenticated(ctx context.Context, a Actor, account string, lastUsed *time.Time, details map[string]string, touch func(time.Time, time.Duration) error) {
	now := s.now()
	limits := AuthLimits{}.withDefaults()
	if s.AuthLog != nil {
		limits = s.AuthLog.limits
	}
	// The row read to authenticate says when the last use was written: no write (not even
	// a conditional one) while it is recent.
	if lastUsed == nil || now.Sub(*lastUsed) >= limits.LastUseEvery {
		if err := touch(now, limits.LastUseEvery); err != nil {
			s.logger().Error("record an account's last use", "account", account, "err", err)
		}
	}
	if s.AuthLog == nil || !s.AuthLog.loginDue(now, account) {
		return
	}
	ev, err := s.boundedEvent(a, ActionLogin, account, "ok", details)
	if err == nil {
		_, err = s.Store.AppendAudit(ctx, ev)
	}
	if err != nil {
		s.logger().Error("audit of a login", "account", account, "err", fmt.Errorf("ops: %w", err))
	}
}
